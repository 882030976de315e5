"""The controller's observation: one vector, built by the same code in the simulator and on the board.

A controller sees, at the start of every inference, what a runtime manager on the board can know:
the budgets in force, how the last inference did against them, the competing load and frequency of
every processing element (PE), and the configuration it is in (groups k and PE). ``envs`` and
``hw_agents`` both call :meth:`ObservationSpec.build`; heuristic controllers read the vector back with
:meth:`ObservationSpec.decode`. Only numpy is imported, so this runs on the boards.

Layout (``OBSERVATION_VERSION``), every entry scaled to about [0, 1] so that learned policies need no
normalisation wrapper:

====================  =====================================================================
index                 meaning
====================  =====================================================================
0, 1, 2               latency, power, energy budget / the platform's scale (0 when absent), <= 10
3, 4, 5               1.0 where that budget is present, else 0.0
6, 7, 8               last latency, power, energy / its budget (/ the scale when absent), <= 10
9                     frames waiting behind the current one / 10, <= 1
9 + 1 + i             competing load of PE i: busy cores / cores (GPU: busy share)
9 + 1 + P + i         frequency of PE i / its highest frequency
9 + 1 + 2P            active groups k / G
9 + 2 + 2P + i        1.0 for the PE the DNN ran on last, else 0.0
9 + 2 + 3P + a        configuration a (``platform.configs()`` order): its predicted worst
                      budget ratio under the observed load, ``log2(ratio) / 3`` within [-1, 1]
====================  =====================================================================

The scales are the platform's worst case over every configuration with all cores free (slowest
latency, highest power, highest energy), so a budget of 1.0 means "anything fits".

The last block (version 2) is what the lookup manager computes to choose: per configuration, its
p95 latency (the agent's own work included), power and energy predicted by the table under the
competing load observed, divided by the budgets in force, the largest of them
(``platform_models.prediction.worst_budget_ratio``, the same function the lookup manager calls).
0 means "fits", 1 means "8x over a budget", -1 "8x under every budget or none in force". A learned
policy then need not learn the table and the contention rule from the reward: it sees which
configurations fit a budget or a load it never met in training, and learns where to take risks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from platform_models.memo import Memo
from platform_models.prediction import Predictor, budgets_key, worst_budget_ratio

OBSERVATION_VERSION = "dynscale-obs-2"

_RATIO_CAP = 10.0
_BACKLOG_SCALE = 10.0
_N_HEADER = 10  # budgets (3), presence flags (3), last ratios (3), backlog (1)
# A fit feature spans ratios 1/8 to 8 of a budget: beyond 8x over, every such choice is a miss the
# reward caps; below 1/8, a configuration fits whatever its noise.
_FIT_LOG2_SPAN = 3.0


@dataclass(frozen=True)
class ObservationView:
    """An observation decoded back into the units of the board (NaN = budget absent)."""

    latency_budget_ms: float
    power_budget_w: float
    energy_budget_mj: float
    last_latency_ms: float
    last_power_w: float
    last_energy_mj: float
    backlog: int
    load: dict[str, float]
    freq_mhz: dict[str, float]
    groups: int
    pe: str

    @property
    def budgets(self) -> tuple[float, float, float]:
        """(latency ms, power W, energy mJ), NaN where absent."""
        return (self.latency_budget_ms, self.power_budget_w, self.energy_budget_mj)


class ObservationSpec:
    """Builds and decodes the observation vector of one platform."""

    def __init__(self, platform: Any) -> None:
        self._platform = platform
        self._predictor = Predictor.of(platform)
        self._fits = Memo()  # loads vary continuously (see ``_fit``)
        self.pe_names: tuple[str, ...] = tuple(pe.name for pe in platform.pes)
        self.groups = int(platform.groups)
        self._n_cores = np.array([float(pe.n_cores) for pe in platform.pes])
        self._max_freq = np.array([float(max(pe.freqs_mhz)) for pe in platform.pes])
        self._pe_index = {name: i for i, name in enumerate(self.pe_names)}
        latency, power, energy = [], [], []
        for c in platform.configs():
            cores = platform.pe(c.pe).n_cores
            latency.append(platform.latency_ms(c.pe, c.freq_mhz, cores, c.groups))
            power.append(platform.power_w(c.pe, c.freq_mhz, cores, c.groups))
            energy.append(platform.energy_mj(c.pe, c.freq_mhz, cores, c.groups))
        self.scales = np.array([max(latency), max(power), max(energy)], dtype=np.float64)
        self._scales = self.scales.tolist()
        self._n_cores_list = self._n_cores.tolist()
        self._max_freq_list = self._max_freq.tolist()
        n_pe = len(self.pe_names)
        self._fit_start = _N_HEADER + 2 * n_pe + 1 + n_pe
        self.size = self._fit_start + len(platform.configs())
        self.low = np.zeros(self.size, dtype=np.float32)
        self.low[self._fit_start :] = -1.0
        self.high = np.full(self.size, 1.0, dtype=np.float32)
        # A budget looser than ten times the worst case means the same as one at ten times.
        self.high[0:3] = _RATIO_CAP
        self.high[6:9] = _RATIO_CAP

    def build(
        self,
        *,
        budgets: tuple[float, float, float],
        last: tuple[float, float, float],
        load: Mapping[str, float],
        freq_mhz: Mapping[str, float],
        groups: int,
        pe: str,
        backlog: int = 0,
    ) -> np.ndarray:
        """The observation for ``budgets`` (latency ms, power W, energy mJ; NaN = absent), ``last``
        (latency ms, power W, energy mJ of the last inference; NaN before the first), the competing
        ``load`` and ``freq_mhz`` of every PE, and the current configuration."""
        # Plain Python floats, one array at the end: this runs once per simulated step and once per
        # live frame, and numpy's per-call overhead on short vectors was most of the time of both.
        values = [0.0] * self._fit_start
        for j in range(3):
            budget = budgets[j]
            if math.isfinite(budget):
                values[j] = min(budget / self._scales[j], _RATIO_CAP)
                values[3 + j] = 1.0
                reference = budget
            else:
                reference = self._scales[j]
            ratio = last[j] / reference
            values[6 + j] = 0.0 if ratio != ratio else min(max(ratio, 0.0), _RATIO_CAP)
        values[9] = min(backlog / _BACKLOG_SCALE, 1.0)
        n_pe = len(self.pe_names)
        for i, name in enumerate(self.pe_names):
            values[_N_HEADER + i] = min(load[name] / self._n_cores_list[i], 1.0)
            values[_N_HEADER + n_pe + i] = freq_mhz[name] / self._max_freq_list[i]
        values[_N_HEADER + 2 * n_pe] = groups / self.groups
        values[_N_HEADER + 2 * n_pe + 1 + self._pe_index[pe]] = 1.0
        # float64 values to float32 in one conversion, as the fit block was assigned before.
        return np.array(values + self._fit(budgets, load, pe, freq_mhz[pe]), dtype=np.float32)

    def _fit(self, budgets: tuple[float, float, float], load: Mapping[str, float], pe: str,
             freq_mhz: float) -> list[float]:
        """Per configuration, the predicted worst budget ratio under ``load`` as ``log2(ratio) / 3``
        within [-1, 1], the agent's work at the PE ``pe`` and frequency ``freq_mhz`` in force.

        Remembered per prediction (one per allocation of the load), budgets in force and agent's
        work: within a trace segment, or on a board whose load leaves the same cores free, every
        frame asks the same."""
        prediction = self._predictor.predict(load)
        key = (prediction, pe, freq_mhz, budgets_key(budgets))
        fit = self._fits.get(key)
        if fit is None:
            agent_ms = self._platform.pe(pe).agent_ms(freq_mhz)
            ratio = worst_budget_ratio(prediction, budgets, agent_ms)
            # Clipping the ratio to [1/8, 8] before the log2 gives what clipping after it gives
            # (the bounds' logs are exact), with no log of 0 (no budget in force) to silence.
            within = np.clip(ratio, 2.0**-_FIT_LOG2_SPAN, 2.0**_FIT_LOG2_SPAN)
            fit = self._fits.keep(key, (np.log2(within) / _FIT_LOG2_SPAN).tolist())
        return fit

    def build_view(self, view: ObservationView) -> np.ndarray:
        """The observation of ``view`` for this spec's platform: another platform's observation,
        decoded by its spec, encoded again for this one (the scales differ between tables)."""
        return self.build(
            budgets=(view.latency_budget_ms, view.power_budget_w, view.energy_budget_mj),
            last=(view.last_latency_ms, view.last_power_w, view.last_energy_mj), load=view.load,
            freq_mhz=view.freq_mhz, groups=view.groups, pe=view.pe, backlog=view.backlog)

    def decode(self, obs: np.ndarray) -> ObservationView:
        """The inverse of :meth:`build` (up to float32 rounding)."""
        # Plain Python floats (exact copies of the float32 entries, float64 arithmetic as numpy's):
        # a model-based controller decodes every frame, and numpy's per-call overhead on slices of
        # a 20-element vector was most of the live agent's decide stage.
        floats = type(obs) is np.ndarray and obs.dtype.kind == "f"
        values = (obs if floats else np.asarray(obs, dtype=np.float64)).tolist()
        n_pe = len(self.pe_names)
        budget, last = [], []
        for j in range(3):
            present = values[3 + j] > 0.5
            budget.append(values[j] * self._scales[j] if present else math.nan)
            last.append(values[6 + j] * (budget[j] if present else self._scales[j]))
        base = _N_HEADER
        one_hot = values[base + 2 * n_pe + 1 : base + 3 * n_pe + 1]
        names = self.pe_names
        return ObservationView(
            latency_budget_ms=budget[0],
            power_budget_w=budget[1],
            energy_budget_mj=budget[2],
            last_latency_ms=last[0],
            last_power_w=last[1],
            last_energy_mj=last[2],
            backlog=round(values[9] * _BACKLOG_SCALE),
            load={n: values[base + i] * self._n_cores_list[i] for i, n in enumerate(names)},
            freq_mhz={n: values[base + n_pe + i] * self._max_freq_list[i] for i, n in enumerate(names)},
            groups=round(values[base + 2 * n_pe] * self.groups),
            pe=names[one_hot.index(max(one_hot))],
        )
