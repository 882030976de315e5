"""Derived tables: reproduced byte for byte from their descriptors, and the DNN cost they copy."""

from __future__ import annotations

import pytest

import dnn
from platform_models import load_platform
from platform_models.derive import pe_model
from platform_models.descriptor import read_descriptor
from platform_models.store import DATA_DIR, derive_table_text

DERIVED = ("odroid-xu3", "jetson-nano")


@pytest.mark.parametrize("name", DERIVED)
def test_shipped_derived_tables_reproduce_exactly(name):
    descriptor, problems = read_descriptor(DATA_DIR / f"{name}.yaml")
    assert problems == []
    text = derive_table_text(descriptor)
    assert text == derive_table_text(descriptor)
    assert descriptor.table_path.read_text(encoding="utf-8") == text


@pytest.mark.parametrize("name", DERIVED)
def test_derived_tables_say_so_everywhere(name):
    platform = load_platform(name)
    assert platform.provenance_kind == "derived"
    assert platform.table_path.read_text().startswith(f"# {name}: DERIVED by 'dynscale platform derive'")
    assert all(row.latency_n == 0 for row in platform.rows)  # no timed runs behind any row


@pytest.mark.parametrize("name", DERIVED)
def test_descriptor_dnn_cost_matches_the_dnn_counter(name):
    descriptor, _ = read_descriptor(DATA_DIR / f"{name}.yaml")
    spec = descriptor.raw["dnn"]
    for entry in descriptor.raw["derivation"]["dnn_cost"]["per_k"]:
        cost = dnn.count_cost(
            spec["arch"], groups=spec["groups"], connectivity=spec["connectivity"], k=entry["k"]
        )
        assert (entry["macs"], entry["param_bytes"], entry["activation_bytes"]) == (
            cost.macs,
            cost.param_bytes,
            cost.activation_bytes,
        )


def test_fits_reproduce_their_public_anchors():
    # The fitted efficiency, serial fraction and overhead must give back the latencies they were fitted to.
    nano, _ = read_descriptor(DATA_DIR / "jetson-nano.yaml")
    a57 = pe_model(nano, 0)
    fit = nano.raw["pes"][0]["model"]["latency_fit"]
    for threads, expected_ms in ((1, fit["latency_1_ms"]), (4, fit["latency_n_ms"])):
        assert a57.latency_ms(fit["freq_mhz"], threads, 2 * fit["macs"], fit["bytes"]) == pytest.approx(
            expected_ms
        )
    gpu = pe_model(nano, 1)
    fit = nano.raw["pes"][1]["model"]["latency_fit"]
    fp16 = type(gpu)(**{**gpu.__dict__, "flops_per_cycle": fit["flops_per_cycle"]})
    for net in fit["nets"]:
        assert fp16.latency_ms(fit["freq_mhz"], 1, 2 * net["macs"], net["bytes"]) == pytest.approx(
            net["latency_ms"]
        )
    power = nano.raw["pes"][1]["model"]["power_fit"]
    busy = type(gpu)(**{**gpu.__dict__, "t0_ms": 0.0})  # all of the time busy, as in the 99 % reading
    assert busy.power_w(power["freq_mhz"], 1, 1e9, 0.0, power["voltage_mv"] / 1000) == pytest.approx(
        power["power_w"]
    )
