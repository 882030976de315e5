"""Linux cpufreq governors as pure functions of utilisation, and the controllers that apply them.

A governor only moves the clock: it runs the full network (k = G) on the fastest PE (of those the
action mask allows, when one is given) and picks that PE's frequency from the utilisation it sees.
The rules follow the kernel (torvalds/linux ``Documentation/admin-guide/pm/cpufreq.rst``;
``drivers/cpufreq/cpufreq_ondemand.c`` ``od_update``):

* performance: the highest frequency; powersave: the lowest.
* ondemand: above ``up_threshold`` (80 %, ``DEF_FREQUENCY_UP_THRESHOLD``) the highest frequency, else
  ``f_min + util * (f_max - f_min)``.
* schedutil: ``f = 1.25 * f_max * util`` (the 1.25 puts the tipping point at util = 0.8; in the kernel
  ``util + (util >> 2)``).

A target between two available frequencies resolves to the next one up (``CPUFREQ_RELATION_L``).

Utilisation is what the governor of that cluster would see: the busy share of its cores over the
last frame period, i.e. the competing load plus the DNN's own busy time,

    util = (load + (n - load) * duty) / n,      duty = min(1, last_latency_ms / period_ms),

with n the PE's cores (1 for a GPU, whose load is a busy share), ``load`` the competing busy cores
and the DNN taking the cores left to it for ``last_latency_ms`` of every ``period_ms``. The period
is the trace's frame period when the controller runs in the simulator and the latency budget on a
board that does not know it; with neither, or frames queueing, the DNN counts as always busy.
Busy time is measured in wall time at the current clock, as the kernel's non-frequency-invariant
utilisation is, so a slowed-down DNN raises its own utilisation and pulls the clock back up.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from controllers._base import Controller, allowed_pes, fastest_pe

ONDEMAND_UP_THRESHOLD = 0.80
SCHEDUTIL_HEADROOM = 1.25


def _at_least(freqs_mhz: Sequence[float], target_mhz: float) -> float:
    """The lowest available frequency >= target (the highest if none is)."""
    for freq in sorted(freqs_mhz):
        if freq >= target_mhz - 1e-9:
            return float(freq)
    return float(max(freqs_mhz))


def performance(freqs_mhz: Sequence[float], util: float) -> float:
    """The highest frequency, whatever the load."""
    return float(max(freqs_mhz))


def powersave(freqs_mhz: Sequence[float], util: float) -> float:
    """The lowest frequency, whatever the load."""
    return float(min(freqs_mhz))


def ondemand(freqs_mhz: Sequence[float], util: float, up_threshold: float = ONDEMAND_UP_THRESHOLD) -> float:
    """Highest frequency above ``up_threshold``, else proportional between the lowest and highest."""
    f_min, f_max = float(min(freqs_mhz)), float(max(freqs_mhz))
    if util > up_threshold:
        return f_max
    return _at_least(freqs_mhz, f_min + util * (f_max - f_min))


def schedutil(freqs_mhz: Sequence[float], util: float) -> float:
    """``1.25 * f_max * util``, rounded up to the next available frequency."""
    return _at_least(freqs_mhz, SCHEDUTIL_HEADROOM * float(max(freqs_mhz)) * util)


RULES: dict[str, Callable[[Sequence[float], float], float]] = {
    "performance": performance,
    "powersave": powersave,
    "ondemand": ondemand,
    "schedutil": schedutil,
}


def utilisation(load: float, n_cores: float, duty: float) -> float:
    """Busy share of a PE in [0, 1]: competing ``load`` (busy cores; a GPU has n_cores = 1 and a busy
    share) plus the DNN busy ``duty`` of the time on the cores left to it."""
    load = min(max(load, 0.0), n_cores)
    return (load + (n_cores - load) * min(max(duty, 0.0), 1.0)) / n_cores


def dnn_duty(last_latency_ms: float, period_ms: float | None, backlog: int = 0) -> float:
    """The DNN's busy share of the last period (1 when frames queue up or the period is unknown)."""
    if last_latency_ms <= 0:
        return 0.0  # it has not run here yet
    if backlog > 0 or period_ms is None or not math.isfinite(period_ms) or period_ms <= 0:
        return 1.0
    return min(last_latency_ms / period_ms, 1.0)


class GovernorController(Controller):
    """Full network on the fastest PE, its clock set by one governor rule."""

    def __init__(self, platform: Any, rule: str, env: Any = None) -> None:
        super().__init__(platform)
        self.name = rule
        self._rule = RULES[rule]
        self._pe = platform.pe(fastest_pe(platform))
        self._env = env
        self._frame_period_ms: float | None = None
        self.reset()

    def reset(self) -> None:
        # The frame period is known in simulation (the trace of the episode just reset).
        trace = getattr(getattr(self._env, "unwrapped", None), "trace", None)
        self._frame_period_ms = getattr(trace, "frame_period_ms", None)

    def _act(self, obs: np.ndarray, info: dict | None) -> int:
        view = self.view(obs)
        pe, mask = self._pe, self.mask(info)
        if mask is not None and pe.name not in (pes := allowed_pes(self.platform, mask)):
            pe = self.platform.pe(fastest_pe(self.platform, pes))
        # Only the DNN's own time on this PE counts (it ran elsewhere before the first step).
        last_latency_ms = view.last_latency_ms if view.pe == pe.name else 0.0
        duty = dnn_duty(last_latency_ms, self._frame_period_ms or view.latency_budget_ms, view.backlog)
        util = utilisation(view.load[pe.name], float(pe.n_cores), duty)
        return self.allowed(self.action(self.platform.groups, pe.name, self._rule(pe.freqs_mhz, util)), info)
