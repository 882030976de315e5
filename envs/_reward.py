"""The reward of one inference: accuracy when every budget is met, a growing penalty when one is not.

``reward`` is a pure function of the inference's outcome and the budgets in force, so evaluation
code, the oracle's lookahead and the environment all use the same formula::

    violation = sum over the budgets present of max(0, value / budget - 1)     (relative overshoot)
    if violation == 0:  r = w_accuracy * accuracy(k)
    else:               r = -(w_miss + w_violation * min(violation, violation_cap))
    r -= w_energy * energy_mj / energy_scale_mj

An absent budget is ``inf`` (no limit). ``energy_scale_mj`` is the platform's worst-case energy per
inference (the observation's scale), so the energy term is at most ``w_energy``: small next to the
accuracy, it only breaks ties between configurations that meet the budgets equally well. A miss
always scores below any met budget (``-w_miss < 0 <= accuracy``), and a bigger overshoot scores
lower, which gives a learner a gradient back towards the budget.
"""

from __future__ import annotations

from typing import Any

W_ACCURACY = 1.0
W_MISS = 0.5
W_VIOLATION = 1.0
W_ENERGY = 0.05
VIOLATION_CAP = 10.0


def reward(
    accuracy: Any,
    latency_ms: Any,
    power_w: Any,
    energy_mj: Any,
    latency_budget_ms: Any,
    power_budget_w: Any,
    energy_budget_mj: Any,
    *,
    energy_scale_mj: float,
    w_accuracy: float = W_ACCURACY,
    w_miss: float = W_MISS,
    w_violation: float = W_VIOLATION,
    w_energy: float = W_ENERGY,
    violation_cap: float = VIOLATION_CAP,
) -> Any:
    """The reward of one inference (floats in, float out; numpy arrays in, array out).

    Args:
        accuracy: top-1 accuracy of the groups used, in [0, 1].
        latency_ms: from the frame's arrival to its result (queueing included).
        power_w: mean power while the DNN ran.
        energy_mj: energy of the inference.
        latency_budget_ms, power_budget_w, energy_budget_mj: budgets in force; ``inf`` = none.
        energy_scale_mj: energy that costs ``w_energy`` (> 0; the platform's worst case).
        w_accuracy, w_miss, w_violation, w_energy, violation_cap: the weights (see module doc).

    Returns:
        The reward.
    """
    # One formula for floats and arrays alike: ``_positive`` and the bool products below work on both,
    # and a float in costs about 1 us (numpy's ufuncs on Python floats cost ~40 us per call here).
    violation = (
        _positive(latency_ms / latency_budget_ms - 1.0)
        + _positive(power_w / power_budget_w - 1.0)
        + _positive(energy_mj / energy_budget_mj - 1.0)
    )
    capped = violation - _positive(violation - violation_cap)
    missed = violation > 0.0
    met_value = w_accuracy * accuracy
    miss_value = -(w_miss + w_violation * capped)
    return missed * miss_value + (1 - missed) * met_value - w_energy * energy_mj / energy_scale_mj


def _positive(x: Any) -> Any:
    """max(x, 0) for a float or an array."""
    return x * (x > 0.0)
