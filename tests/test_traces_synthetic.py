"""Synthetic traces: same seed same file, every kind's shape, budgets that bite on the platform."""

from __future__ import annotations

import numpy as np
import pytest

from traces import TraceError, format_trace
from traces.synthetic import GENERATED_KINDS, NOVEL_KINDS, PHASES, BudgetScale, generate


@pytest.mark.parametrize("kind", GENERATED_KINDS)
def test_same_seed_same_bytes_other_seed_other_trace(tiny, kind: str) -> None:
    text = format_trace(generate(kind, tiny, 7))
    assert format_trace(generate(kind, tiny, 7)) == text
    assert format_trace(generate(kind, tiny, 8)) != text


@pytest.mark.parametrize("kind", GENERATED_KINDS)
def test_every_kind_fits_the_platform(tiny, kind: str) -> None:
    t = generate(kind, tiny, 3, duration_s=30.0, split="eval")
    t.check_platform(tiny)  # load columns = the PEs, CPU load <= cores, GPU share <= 1
    assert (t.platform, t.kind, t.split, t.seed, t.duration_s) == ("tiny", kind, "eval", 3, 30.0)
    assert t.pe_names == ("little", "big", "gpu")
    assert t.frame_period_ms == BudgetScale.of(tiny).default_frame_period_ms()
    assert all(name in t.description for name in PHASES)  # every budget phase appears once at least


def test_kinds_have_their_shape(tiny) -> None:
    steady = generate("steady", tiny, 1)
    assert all(np.ptp(v) == 0 for v in steady.load.values())
    periodic = generate("periodic", tiny, 1)
    assert all(len(np.unique(v)) == 2 for v in periodic.load.values())  # on and off levels
    ramp = generate("ramp", tiny, 1)
    assert all(v.max() > v[0] for v in ramp.load.values())
    bursty = generate("bursty", tiny, 1)
    assert all(len(np.unique(v)) > 3 for v in bursty.load.values())  # bursts of several sizes overlap
    # The other app holds a whole number of cores of one cluster (or a GPU share) during its inferences.
    dnn = [generate("concurrent-dnn", tiny, seed) for seed in range(6)]
    assert any(np.ptp(t.load["gpu"]) > 0.4 for t in dnn) and any(np.ptp(t.load["big"]) >= 1 for t in dnn)


@pytest.mark.parametrize("kind", NOVEL_KINDS)
def test_novel_kinds_are_reproducible_and_fit_the_platform(tiny, kind: str) -> None:
    t = generate(kind, tiny, 5, split="novel")
    t.check_platform(tiny)
    assert format_trace(generate(kind, tiny, 5, split="novel")) == format_trace(t)
    assert t.split == "novel" and t.kind == kind


def test_novel_kinds_have_their_shape(tiny) -> None:
    scale = BudgetScale.of(tiny)
    drop = generate("budget-drop", tiny, 1)
    latency = drop.latency_budget_ms
    assert latency[0] == drop.frame_period_ms and latency.min() < drop.frame_period_ms
    assert np.isnan(drop.power_budget_w).all() and np.isnan(drop.energy_budget_mj).all()
    assert latency.min() >= scale.latency_ms.min()  # the dropped budget stays within reach
    gpu = generate("gpu-dnn", tiny, 1)
    assert gpu.load["gpu"].max() >= 0.5 and len(np.unique(gpu.load["gpu"])) > 10  # one share per pulse
    oscillating = generate("oscillating", tiny, 1)
    assert all(len(v) > 100 and len(np.unique(v)) == 2 for v in oscillating.load.values())
    overload = generate("overload", tiny, 1)
    heavy = overload.load["big"] >= 0.85 * tiny.pe("big").n_cores
    assert overload.segment_durations_s()[heavy].sum() >= 0.3 * overload.duration_s
    tails = generate("heavy-tailed", tiny, 1)
    assert all(len(np.unique(v)) > 5 for v in tails.load.values())


def _fits(scale: BudgetScale, budgets: tuple[float, float, float]) -> np.ndarray:
    limits = np.array(budgets)
    metrics = np.column_stack([scale.latency_ms, scale.power_w, scale.energy_mj])
    return np.all(np.isnan(limits) | (metrics <= limits), axis=1)


def test_budgets_force_fewer_groups_sometimes_and_allow_all_otherwise(tiny) -> None:
    scale = BudgetScale.of(tiny)
    n_fewer = n_all = 0
    for kind in GENERATED_KINDS:
        t = generate(kind, tiny, 11)
        for budgets in {t.budgets_at(s) for s in t.time_s}:
            fits = _fits(scale, budgets)
            assert fits.any(), f"no configuration meets {budgets} on a free board"
            if fits[scale.all_groups].any():
                n_all += 1
            else:
                n_fewer += 1
    assert n_fewer >= 5 and n_all >= 5


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": "chaotic"}, "kind"),
        ({"seed": -1}, "seed"),
        ({"duration_s": 0.0}, "duration_s"),
        ({"frame_period_ms": float("nan")}, "frame_period_ms"),
        ({"split": "test"}, "split"),
    ],
)
def test_bad_arguments_are_trace_errors(tiny, kwargs: dict, field: str) -> None:
    args = {"kind": "steady", "platform": tiny, "seed": 0, **kwargs}
    with pytest.raises(TraceError, match=f"^field '{field}': expected ") as info:
        generate(**args)
    assert info.value.field == field


def test_short_traces_and_explicit_frame_period(tiny) -> None:
    t = generate("bursty", tiny, 5, duration_s=2.0, frame_period_ms=33.0)
    assert t.duration_s == 2.0 and t.frame_period_ms == 33.0 and t.time_s[-1] < 2.0
