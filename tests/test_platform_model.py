"""PlatformModel queries: grid points, interpolation, ranges, the vectorised accessor."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from platform_models import PlatformError, load_platform, shipped_platforms
from tests.support import TINY


@pytest.fixture(scope="module")
def xu3():
    return load_platform("odroid-xu3")


def test_tiny_platform_has_the_agreed_shape(tiny):
    assert tiny.name == "tiny"
    assert [(pe.name, pe.kind, pe.n_cores, len(pe.freqs_mhz)) for pe in tiny.pes] == [
        ("little", "cpu", 2, 3),
        ("big", "cpu", 2, 3),
        ("gpu", "gpu", 1, 3),
    ]
    assert tiny.groups == 4 and len(tiny.accuracy) == 4
    assert tiny.provenance_kind == "derived"


def test_shipped_platforms_lists_only_existing_files():
    names = shipped_platforms()
    assert names[:2] == ("odroid-xu3", "jetson-nano")
    for name in names:
        assert load_platform(name).name == name


def test_shipped_pes_and_frequencies():
    xu3, nano = load_platform("odroid-xu3"), load_platform("jetson-nano")
    assert [pe.name for pe in xu3.pes] == ["a7", "a15", "gpu"]
    assert xu3.pe("a7").cpus == (0, 1, 2, 3) and xu3.pe("a15").cpus == (4, 5, 6, 7)
    assert xu3.pe("a7").freqs_mhz == tuple(range(200, 1401, 100))
    assert xu3.pe("a15").freqs_mhz == tuple(range(200, 2001, 100))
    assert xu3.pe("gpu").freqs_mhz == (177, 266, 350, 420, 480, 543, 600)
    assert [pe.name for pe in nano.pes] == ["a57", "gpu"]
    assert nano.pe("a57").freqs_mhz[0] == 102 and nano.pe("a57").freqs_mhz[-1] == 1479
    assert len(nano.pe("a57").freqs_mhz) == 15
    assert nano.pe("gpu").freqs_mhz == tuple(round(76.8 * i, 1) for i in range(1, 13))


def test_a_grid_point_is_the_table_row(tiny):
    row = next(r for r in tiny.rows if (r.pe, r.freq_mhz, r.cores, r.groups) == ("big", 1400, 1, 3))
    assert tiny.latency_ms("big", 1400, 1, 3) == row.latency_ms_mean
    assert tiny.latency_std_ms("big", 1400, 1, 3) == row.latency_ms_std
    assert tiny.latency_p95_ms("big", 1400, 1, 3) == row.latency_ms_p95
    assert tiny.power_w("big", 1400, 1, 3) == row.power_w_mean
    assert tiny.energy_mj("big", 1400, 1, 3) == pytest.approx(row.power_w_mean * row.latency_ms_mean)


def test_between_frequencies_latency_is_linear_in_the_period(tiny):
    t_lo, t_hi = tiny.latency_ms("big", 800, 2, 4), tiny.latency_ms("big", 1400, 2, 4)
    f = 1000.0
    w = (1 / f - 1 / 1400) / (1 / 800 - 1 / 1400)
    assert tiny.latency_ms("big", f, 2, 4) == pytest.approx(w * t_lo + (1 - w) * t_hi)
    p_lo, p_hi = tiny.power_w("big", 800, 2, 4), tiny.power_w("big", 1400, 2, 4)
    assert tiny.power_w("big", f, 2, 4) == pytest.approx(p_lo + (p_hi - p_lo) * (f - 800) / 600)


def test_fractional_cores_interpolate_in_one_over_cores_and_time_share_below_one(tiny):
    t1, t2 = tiny.latency_ms("little", 1000, 1, 2), tiny.latency_ms("little", 1000, 2, 2)
    w = (1 / 1.5 - 1 / 2) / (1 / 1 - 1 / 2)
    assert tiny.latency_ms("little", 1000, 1.5, 2) == pytest.approx(w * t1 + (1 - w) * t2)
    assert tiny.latency_ms("little", 1000, 0.25, 2) == pytest.approx(4 * t1)
    assert tiny.power_w("little", 1000, 0.25, 2) == pytest.approx(tiny.power_w("little", 1000, 1, 2))


@settings(max_examples=60, deadline=None)
@given(
    f1=st.floats(800, 2000),
    f2=st.floats(800, 2000),
    c1=st.floats(0.05, 2.0),
    c2=st.floats(0.05, 2.0),
    k=st.integers(1, 4),
)
def test_latency_falls_with_frequency_and_cores(f1, f2, c1, c2, k):
    platform = load_platform(TINY)
    (fa, fb), (ca, cb) = sorted((f1, f2)), sorted((c1, c2))
    assert platform.latency_ms("big", fb, ca, k) <= platform.latency_ms("big", fa, ca, k) + 1e-9
    assert platform.latency_ms("big", fa, cb, k) <= platform.latency_ms("big", fa, ca, k) + 1e-9
    assert platform.power_w("big", fb, ca, k) >= platform.power_w("big", fa, ca, k) - 1e-9


def test_interpolation_is_monotonic_on_the_shipped_tables(xu3):
    for pe in xu3.pes:
        freqs = np.linspace(pe.freqs_mhz[0], pe.freqs_mhz[-1], 57)
        cores = np.linspace(0.3, pe.n_cores, 23)
        for k in (1, xu3.groups):
            by_freq = [xu3.latency_ms(pe.name, float(f), pe.n_cores, k) for f in freqs]
            by_cores = [xu3.latency_ms(pe.name, pe.freqs_mhz[-1], float(c), k) for c in cores]
            assert np.all(np.diff(by_freq) <= 1e-9), pe.name
            assert np.all(np.diff(by_cores) <= 1e-9), pe.name


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("npu", 1000, 1, 1), r"^tiny: field 'pe': unknown PE 'npu' \(PEs: little, big, gpu\)$"),
        (("big", 2100, 1, 1), r"^tiny: field 'freq_mhz': 2100 MHz is outside PE 'big' range 800\.\.2000 MHz"),
        (("big", 799.0, 1, 1), r"outside PE 'big' range"),
        (("big", float("nan"), 1, 1), r"outside PE 'big' range"),
        (("big", 1000, 3, 1), r"^tiny: field 'cores': cores must be in \(0, 2\] on PE 'big', got 3$"),
        (("big", 1000, 0, 1), r"cores must be in \(0, 2\]"),
        (("gpu", 400, 1.5, 1), r"cores must be in \(0, 1\] on PE 'gpu'"),
        (("big", 1000, 1, 5), r"^tiny: field 'groups': groups must be an integer in 1\.\.4, got 5$"),
        (("big", 1000, 1, 0), r"groups must be an integer in 1\.\.4"),
    ],
)
def test_out_of_range_queries_are_refused(tiny, args, match):
    with pytest.raises(PlatformError, match=match):
        tiny.latency_ms(*args)


def test_configs_are_the_flat_action_space_in_documented_order(tiny):
    configs = tiny.configs()
    assert len(configs) == sum(len(pe.freqs_mhz) for pe in tiny.pes) * tiny.groups
    assert configs[:5] == (
        (1, "little", 500),
        (2, "little", 500),
        (3, "little", 500),
        (4, "little", 500),
        (1, "little", 1000),
    )
    assert configs[-1] == (4, "gpu", 600)
    assert configs[0].groups == 1 and configs[0].pe == "little" and configs[0].freq_mhz == 500


@pytest.mark.parametrize("cores_by_pe", [None, [1.5, 0.4, 1.0], [2, 2, 0.5]])
def test_config_metrics_agree_with_the_scalar_queries(xu3, cores_by_pe):
    metrics = xu3.config_metrics(cores_by_pe)
    cores = [pe.n_cores for pe in xu3.pes] if cores_by_pe is None else cores_by_pe
    by_pe = {pe.name: c for pe, c in zip(xu3.pes, cores, strict=True)}
    for i, c in enumerate(xu3.configs()):
        args = (c.pe, c.freq_mhz, by_pe[c.pe], c.groups)
        assert metrics.latency_ms[i] == pytest.approx(xu3.latency_ms(*args))
        assert metrics.latency_std_ms[i] == pytest.approx(xu3.latency_std_ms(*args))
        assert metrics.power_w[i] == pytest.approx(xu3.power_w(*args))
        assert metrics.energy_mj[i] == pytest.approx(xu3.energy_mj(*args))
    lat, std, power, energy = xu3.point(*args)
    assert (lat, std, power, energy) == pytest.approx(
        (metrics.latency_ms[i], metrics.latency_std_ms[i], metrics.power_w[i], metrics.energy_mj[i])
    )


def test_config_metrics_refuses_bad_cores(tiny):
    with pytest.raises(PlatformError, match=r"cores_by_pe must give, per PE, cores in \(0, n_cores\]"):
        tiny.config_metrics([3, 1, 1])
    with pytest.raises(PlatformError, match="cores_by_pe"):
        tiny.config_metrics([1, 1])


def test_sampled_latency_is_seeded_and_has_the_rows_mean_and_spread(tiny):
    draws = [tiny.sample_latency_ms("little", 1000, 2, 4, np.random.default_rng(7)) for _ in range(2)]
    assert draws[0] == draws[1]
    rng = np.random.default_rng(0)
    many = np.array([tiny.sample_latency_ms("little", 1000, 2, 4, rng) for _ in range(20000)])
    mean, std = tiny.latency_ms("little", 1000, 2, 4), tiny.latency_std_ms("little", 1000, 2, 4)
    assert many.mean() == pytest.approx(mean, rel=0.01)
    assert many.std() == pytest.approx(std, rel=0.05)
    assert many.min() > 0


def test_accuracy_override_keeps_the_tables(tiny):
    other = tiny.with_accuracy([0.1, 0.2, 0.3, 0.4])
    assert other.accuracy == (0.1, 0.2, 0.3, 0.4) and tiny.accuracy != other.accuracy
    assert other.latency_ms("big", 2000, 2, 4) == tiny.latency_ms("big", 2000, 2, 4)
    with pytest.raises(PlatformError, match=r"accuracy override must be 4 fractions in \[0, 1\]"):
        tiny.with_accuracy([0.5, 1.5, 0.5, 0.5])


def test_derived_latency_and_energy_are_plausible_for_the_shipped_boards():
    # Guards against unit slips in the model: milliseconds and millijoules of a 60 MMAC network.
    for name in ("odroid-xu3", "jetson-nano"):
        platform = load_platform(name)
        metrics = platform.config_metrics()
        assert 1.0 < metrics.latency_ms.min() < 20.0 and metrics.latency_ms.max() < 2000.0
        assert metrics.power_w.min() > 0.01 and metrics.power_w.max() < 10.0
        assert all(math.isfinite(v) for v in metrics.energy_mj)
