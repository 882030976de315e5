"""The shared observation vector: build then decode gives back what the board knew."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from platform_models import OBSERVATION_VERSION, ObservationSpec, load_platform
from tests.support import TINY as TINY_PATH

TINY = load_platform(TINY_PATH)
SPEC = ObservationSpec(TINY)


def test_layout_size_and_bounds():
    n_pe = len(TINY.pes)
    assert SPEC.size == 10 + 2 * n_pe + 1 + n_pe + len(TINY.configs())
    assert SPEC.low.shape == SPEC.high.shape == (SPEC.size,)
    assert OBSERVATION_VERSION == "dynscale-obs-2"
    # The scales are the worst case over every configuration with all cores free.
    metrics = TINY.config_metrics()
    assert SPEC.scales == pytest.approx(
        [metrics.latency_ms.max(), metrics.power_w.max(), metrics.energy_mj.max()]
    )


# Budgets as a multiple of the platform's worst case: the observation caps them at 10x (looser than
# that means "anything fits"), so the round trip is exact up to the cap.
budget = st.one_of(st.just(math.nan), st.floats(0.001, 10.0))


@settings(max_examples=80, deadline=None)
@given(
    budgets=st.tuples(budget, budget, budget),
    last=st.tuples(st.floats(0.1, 300.0), st.floats(0.01, 5.0), st.floats(0.01, 500.0)),
    loads=st.tuples(st.floats(0, 2), st.floats(0, 2), st.floats(0, 1)),
    freq_index=st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 2)),
    groups=st.integers(1, 4),
    pe=st.sampled_from(["little", "big", "gpu"]),
    backlog=st.integers(0, 10),
)
def test_build_then_decode_round_trip(budgets, last, loads, freq_index, groups, pe, backlog):
    names = [p.name for p in TINY.pes]
    load = dict(zip(names, loads, strict=True))
    freq = {p.name: p.freqs_mhz[i] for p, i in zip(TINY.pes, freq_index, strict=True)}
    budgets = tuple(b * s for b, s in zip(budgets, SPEC.scales, strict=True))
    obs = SPEC.build(
        budgets=budgets, last=last, load=load, freq_mhz=freq, groups=groups, pe=pe, backlog=backlog
    )
    assert obs.dtype == np.float32 and obs.shape == (SPEC.size,)
    assert np.all(obs >= SPEC.low) and np.all(obs <= SPEC.high)
    view = SPEC.decode(obs)
    for got, want in zip(
        (view.latency_budget_ms, view.power_budget_w, view.energy_budget_mj), budgets, strict=True
    ):
        assert math.isnan(got) if math.isnan(want) else got == pytest.approx(want, rel=1e-5)
    reference = [b if not math.isnan(b) else s for b, s in zip(budgets, SPEC.scales, strict=True)]
    for got, want, ref in zip(
        (view.last_latency_ms, view.last_power_w, view.last_energy_mj), last, reference, strict=True
    ):
        # Ratios are capped at 10 x the budget: beyond that the decode says "10 x".
        assert got == pytest.approx(min(want, 10 * ref), rel=1e-5)
    assert view.load == pytest.approx(load, abs=1e-6)
    assert view.freq_mhz == pytest.approx(freq, rel=1e-6)
    assert (view.groups, view.pe, view.backlog) == (groups, pe, backlog)


def test_the_first_inference_has_no_last_figures():
    obs = SPEC.build(
        budgets=(50.0, math.nan, math.nan),
        last=(math.nan, math.nan, math.nan),
        load={"little": 0.0, "big": 0.0, "gpu": 0.0},
        freq_mhz={"little": 500, "big": 800, "gpu": 200},
        groups=4,
        pe="big",
    )
    assert list(obs[6:9]) == [0.0, 0.0, 0.0]
    assert list(obs[3:6]) == [1.0, 0.0, 0.0]


def test_the_fit_block_says_which_configurations_the_table_predicts_within_the_budget():
    """One configuration, worked by hand from the tiny table: its p95 latency free and under load."""
    configs = TINY.configs()
    a = next(i for i, c in enumerate(configs) if (c.pe, c.groups) == ("big", 4))
    c = configs[a]
    cores = TINY.pe("big").n_cores
    p95_ms = TINY.latency_ms(c.pe, c.freq_mhz, cores, 4) + 1.645 * TINY.latency_std_ms(
        c.pe, c.freq_mhz, cores, 4
    )
    free = {"little": 0.0, "big": 0.0, "gpu": 0.0}
    freq = {p.name: max(p.freqs_mhz) for p in TINY.pes}
    start = SPEC.size - len(configs)

    def fit(latency_budget_ms, load):
        obs = SPEC.build(budgets=(latency_budget_ms, math.nan, math.nan), last=(math.nan,) * 3,
                         load=load, freq_mhz=freq, groups=4, pe="gpu")
        return obs[start + a]

    assert fit(p95_ms, free) == pytest.approx(0.0, abs=1e-6)  # exactly at the budget
    assert fit(2 * p95_ms, free) == pytest.approx(-1 / 3, abs=1e-6)  # half of it
    assert fit(p95_ms / 100, free) == 1.0  # far over: capped
    assert fit(math.nan, free) == -1.0  # no budget: fits
    assert fit(p95_ms, {**free, "big": cores - 1.0}) > 0.0  # a busy PE no longer fits
