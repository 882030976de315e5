"""The platform model: latency, power and energy of the DNN for any (pe, freq_mhz, cores, groups).

A ``PlatformModel`` is built from a checked descriptor and table. At load it fills dense numpy
grids indexed ``[pe index, freq index, cores - 1, groups - 1]`` (every listed frequency, every
integer core count), interpolating the grid points the table leaves out; queries between grid
points interpolate again, the same way:

* frequency: latency (mean, std, p95) is linear in 1/f between the two neighbouring listed
  frequencies (the work in cycles is fixed, so time scales with the clock period); power is linear
  in f;
* cores: latency is linear in 1/cores between the neighbouring integer core counts (the parallel
  work is shared by the cores), so fractional cores left by a competing process work; power is
  linear in cores. Below one core the DNN gets a time share ``cores`` of one core: latency =
  latency(1 core) / cores, power = power(1 core);
* groups are never interpolated (k is an integer 1..G).

Queries outside the PE's frequency range, cores outside (0, n_cores], an unknown PE or groups
outside 1..G raise ``PlatformError``. The scalar queries are the simulator's hot path (about ten
per simulated inference): an exact grid point is one dict lookup. ``config_metrics`` evaluates
every configuration at once with numpy for controllers that search them all.
"""

from __future__ import annotations

import copy
import math
from bisect import bisect_left
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from platform_models.descriptor import PE, Descriptor
from platform_models.errors import PlatformError
from platform_models.table import Row

# The order of the quantities in a grid point tuple and along the last axis of ``PlatformModel.grid``.
_MEAN, _STD, _P95, _POWER, _POWER_STD = range(5)
_LATENCY_LIKE = (True, True, True, False, False)  # interpolated in 1/f and 1/cores (else in f, cores)
_CACHE_SIZE = 1 << 16


class Config(NamedTuple):
    """One action of the controller: run the DNN with ``groups`` on ``pe`` at ``freq_mhz``."""

    groups: int
    pe: str
    freq_mhz: float


class ConfigMetrics(NamedTuple):
    """Expected figures of every configuration (arrays aligned with ``PlatformModel.configs()``)."""

    latency_ms: np.ndarray
    latency_std_ms: np.ndarray
    power_w: np.ndarray
    energy_mj: np.ndarray


class PlatformModel:
    """Latency, power and energy of the dynamic DNN on one platform (see the module docstring).

    Attributes:
        name: platform name, e.g. "odroid-xu3".
        provenance_kind: "derived" (a documented model of public constants) or "measured".
        pes: the processing elements, in descriptor order (their index is the grid's first axis).
        groups: G, the number of channel groups of the DNN.
        accuracy: top-1 accuracy per k (index k - 1), as the descriptor states it.
        contention: how competing load shares a PE with the DNN ("priority" or "fair",
            see ``platform_models.contention``).
        contention_stretch: ``fair``: the DNN's stretch on a core other work keeps always busy
            (the descriptor's ``contention_stretch``, measured by calibration; else 2).
        contention_allowance_ms: ``fair``: the DNN's work a held CPU core runs at full speed
            before the split begins (the descriptor's ``contention_allowance_ms``, measured by
            calibration; else 0).
        contention_split_share: ``fair``: (frame period ms, share of frames whose inference a held
            CPU core splits from the start), by period (the descriptor's ``contention_split_share``,
            measured by calibration; else none: every frame runs ahead for the allowance).
        scheduler_tick_ms: ``fair``: the kernel's scheduler tick (the descriptor's
            ``scheduler_tick_ms``, read by calibration from the kernel's configuration; else None).
        contention_split_window_end_ms: ``fair``: where in the tick the arrival phases a held core
            splits end (the descriptor's ``contention_split_window_end_ms``, measured by calibration;
            else None).
        contention_split_grace_ms: ``fair``: how much of a frame's table latency runs before a tick
            can split it (the descriptor's ``contention_split_grace_ms``, measured by calibration;
            else None: the tick less the window's end).
        contention_turn_slice_ms, contention_turn_extra_ms, contention_held_run_ratio: ``fair``: a
            held core's turns (``platform_models.turns``; the descriptor's, measured by calibration;
            else None, None and 1).
        descriptor: the whole descriptor mapping (provenance, DNN, derivation constants).
        path, table_path: the files it was loaded from.
        rows: the table's rows as read (before interpolation).
        freqs_mhz: float array (P, F) of each PE's frequencies, NaN-padded to the longest list.
        grid: float array (P, F, C, G, 5): latency mean, std, p95 (ms), power mean, std (W) at
            [pe index, freq index, cores - 1, groups - 1]; NaN where the PE has no such point.
    """

    def __init__(self, descriptor: Descriptor, rows: Sequence[Row]) -> None:
        self.name = descriptor.name
        self.provenance_kind = descriptor.provenance_kind
        self.pes: tuple[PE, ...] = descriptor.pes
        self.groups = descriptor.groups
        self.accuracy: tuple[float, ...] = descriptor.accuracy
        self.contention = descriptor.contention
        self.contention_stretch = descriptor.contention_stretch
        self.contention_allowance_ms = descriptor.contention_allowance_ms
        self.contention_split_share = descriptor.contention_split_share
        self.scheduler_tick_ms = descriptor.scheduler_tick_ms
        self.contention_split_window_end_ms = descriptor.contention_split_window_end_ms
        self.contention_split_grace_ms = descriptor.contention_split_grace_ms
        self.contention_turn_slice_ms = descriptor.contention_turn_slice_ms
        self.contention_turn_extra_ms = descriptor.contention_turn_extra_ms
        self.contention_held_run_ratio = descriptor.contention_held_run_ratio
        self.descriptor = descriptor.raw
        self.path = descriptor.path
        self.table_path = descriptor.table_path
        self.rows = tuple(rows)
        self._pe_index = {pe.name: i for i, pe in enumerate(self.pes)}
        n_freq = max(len(pe.freqs_mhz) for pe in self.pes)
        n_cores = max(pe.n_cores for pe in self.pes)
        self.freqs_mhz = np.full((len(self.pes), n_freq), np.nan)
        self.grid = np.full((len(self.pes), n_freq, n_cores, self.groups, 5), np.nan)
        for i, pe in enumerate(self.pes):
            self.freqs_mhz[i, : len(pe.freqs_mhz)] = pe.freqs_mhz
            self.grid[i, : len(pe.freqs_mhz), : pe.n_cores] = _fill_pe(pe, self.groups, rows)
        # Hot path: every grid point by its query key. Python floats in tuples beat numpy indexing.
        self._points: dict[tuple, tuple[float, ...]] = {}
        for i, pe in enumerate(self.pes):
            for fi, freq in enumerate(pe.freqs_mhz):
                for cores in range(1, pe.n_cores + 1):
                    for k in range(1, self.groups + 1):
                        point = tuple(float(v) for v in self.grid[i, fi, cores - 1, k - 1])
                        self._points[(pe.name, freq, cores, k)] = (*point, _log_sigma(point))
        self._configs = tuple(
            Config(k, pe.name, freq)
            for pe in self.pes
            for freq in pe.freqs_mhz
            for k in range(1, self.groups + 1)
        )
        self.config_pe_index = np.array([self._pe_index[c.pe] for c in self._configs], dtype=np.int64)
        self.config_freq_index = np.array(
            [self.pes[self._pe_index[c.pe]].freqs_mhz.index(c.freq_mhz) for c in self._configs],
            dtype=np.int64,
        )
        self.config_groups = np.array([c.groups for c in self._configs], dtype=np.int64)
        # config_metrics: each config's points over cores (n_configs, C, 5), and each PE's block of configs.
        self._config_grid = self.grid[self.config_pe_index, self.config_freq_index, :, self.config_groups - 1]
        counts = np.bincount(self.config_pe_index, minlength=len(self.pes))
        ends = np.cumsum(counts)
        self._config_spans = [(int(e - n), int(e)) for e, n in zip(ends, counts, strict=True)]
        self._n_cores_array = np.array([pe.n_cores for pe in self.pes], dtype=np.float64)
        self._extra: dict[tuple, tuple[float, ...]] = {}  # interpolated queries seen so far (bounded)

    def __repr__(self) -> str:
        return f"PlatformModel({self.name!r}, {self.provenance_kind}, pes={[pe.name for pe in self.pes]})"

    def pe(self, name: str) -> PE:
        """The PE called ``name`` (PlatformError if the platform has none)."""
        index = self._pe_index.get(name)
        if index is None:
            raise PlatformError(
                f"unknown PE {name!r} (PEs: {', '.join(self._pe_index)})", path=self.name, field="pe"
            )
        return self.pes[index]

    def configs(self) -> tuple[Config, ...]:
        """Every valid (groups, pe, freq_mhz): PE in descriptor order, then freq ascending, then groups."""
        return self._configs

    def latency_ms(self, pe: str, freq_mhz: float, cores: float, groups: int) -> float:
        """Mean latency of one inference (ms) with ``cores`` (may be fractional) of ``pe`` at ``freq_mhz``."""
        point = self._lookup(pe, freq_mhz, cores, groups)
        return point[_MEAN]

    def latency_std_ms(self, pe: str, freq_mhz: float, cores: float, groups: int) -> float:
        """Standard deviation of the latency (ms)."""
        point = self._lookup(pe, freq_mhz, cores, groups)
        return point[_STD]

    def latency_p95_ms(self, pe: str, freq_mhz: float, cores: float, groups: int) -> float:
        """95th percentile of the latency (ms)."""
        point = self._lookup(pe, freq_mhz, cores, groups)
        return point[_P95]

    def sample_latency_ms(
        self, pe: str, freq_mhz: float, cores: float, groups: int, rng: np.random.Generator
    ) -> float:
        """One latency draw (ms): log-normal with the point's mean and std (the mean if std is 0)."""
        point = self._lookup(pe, freq_mhz, cores, groups)
        sigma = point[-1]
        return point[_MEAN] * math.exp(sigma * rng.standard_normal() - 0.5 * sigma * sigma)

    def power_w(self, pe: str, freq_mhz: float, cores: float, groups: int) -> float:
        """Mean power (W) of the PE's rail while the DNN runs."""
        point = self._lookup(pe, freq_mhz, cores, groups)
        return point[_POWER]

    def energy_mj(self, pe: str, freq_mhz: float, cores: float, groups: int) -> float:
        """Energy of one inference (mJ) = power_w x latency_ms."""
        point = self._lookup(pe, freq_mhz, cores, groups)
        return point[_POWER] * point[_MEAN]

    def point(self, pe: str, freq_mhz: float, cores: float, groups: int) -> tuple[float, float, float, float]:
        """(latency mean ms, latency std ms, power W, energy mJ) in one call: the cheapest way to get all."""
        p = self._lookup(pe, freq_mhz, cores, groups)
        return p[_MEAN], p[_STD], p[_POWER], p[_POWER] * p[_MEAN]

    def config_metrics(self, cores_by_pe: Sequence[float] | np.ndarray | None = None) -> ConfigMetrics:
        """Every configuration of ``configs()`` at once, given the cores left to the DNN on each PE.

        Args:
            cores_by_pe: cores left per PE, in ``pes`` order, each in (0, n_cores] (fractional
                allowed); None = all cores of every PE.
        """
        n_cores = self._n_cores_array
        cores = n_cores if cores_by_pe is None else np.asarray(cores_by_pe, dtype=np.float64)
        if cores.shape != n_cores.shape or not np.all((cores > 0) & (cores <= n_cores)):
            raise PlatformError(
                f"cores_by_pe must give, per PE, cores in (0, n_cores] "
                f"(n_cores {n_cores.tolist()}), got {cores.tolist()}",
                path=self.name, field="cores",
            )
        parts = []
        for i, (first, stop) in enumerate(self._config_spans):
            # Weights per PE (module docstring), applied to that PE's contiguous block of configs.
            c = float(cores[i])
            share = max(c, 1.0)  # below one core: a time share of one core
            lo = min(int(share), int(n_cores[i]))
            block = self._config_grid[first:stop]
            if lo == share:
                point = block[:, lo - 1]
            else:
                w_latency = (1.0 / share - 1.0 / (lo + 1)) / (1.0 / lo - 1.0 / (lo + 1))
                w_power = lo + 1 - share
                weights = np.array([w_latency] * 3 + [w_power] * 2)
                point = weights * block[:, lo - 1] + (1.0 - weights) * block[:, lo]
            parts.append(point * np.array([share / c] * 3 + [1.0, 1.0]))
        point = np.concatenate(parts)
        latency, std, power = point[:, _MEAN], point[:, _STD], point[:, _POWER]
        return ConfigMetrics(latency, std, power, power * latency)

    def with_accuracy(self, accuracy: Sequence[float]) -> PlatformModel:
        """A copy whose accuracy per k is ``accuracy`` (G fractions in [0, 1]); the tables are shared."""
        values = tuple(float(a) for a in accuracy)
        if len(values) != self.groups or not all(0.0 <= a <= 1.0 for a in values):
            raise PlatformError(
                f"accuracy override must be {self.groups} fractions in [0, 1], "
                f"got {list(accuracy)}",
                path=self.name, field="accuracy",
            )
        other = copy.copy(self)
        other.accuracy = values
        return other

    def _lookup(self, pe: str, freq_mhz: float, cores: float, groups: int) -> tuple[float, ...]:
        """The point tuple of a query: a grid point is one dict lookup (the simulator's hot path)."""
        return self._points.get((pe, freq_mhz, cores, groups)) or self._interpolate(
            pe, freq_mhz, cores, groups
        )

    def _interpolate(self, pe: str, freq_mhz: float, cores: float, groups: int) -> tuple[float, ...]:
        """The grid point tuple for a query between grid points (module docstring); checks the range."""
        hit = self._extra.get((pe, freq_mhz, cores, groups))
        if hit is not None:
            return hit
        pe_obj = self.pe(pe)
        if (
            not isinstance(groups, (int, np.integer))
            or isinstance(groups, bool)
            or not 1 <= groups <= self.groups
        ):
            raise PlatformError(
                f"groups must be an integer in 1..{self.groups}, got {groups!r}",
                path=self.name,
                field="groups",
            )
        freqs = pe_obj.freqs_mhz
        if not freqs[0] <= freq_mhz <= freqs[-1]:  # also refuses NaN
            raise PlatformError(
                f"{freq_mhz!r} MHz is outside PE '{pe}' range {freqs[0]:g}..{freqs[-1]:g} MHz",
                path=self.name, field="freq_mhz",
            )
        if not 0 < cores <= pe_obj.n_cores:
            raise PlatformError(
                f"cores must be in (0, {pe_obj.n_cores}] on PE '{pe}', got {cores!r}",
                path=self.name, field="cores",
            )
        hi = bisect_left(freqs, freq_mhz)
        at_hi = self._at_cores(pe, freqs[hi], cores, groups, pe_obj.n_cores)
        if freqs[hi] == freq_mhz:
            point = at_hi
        else:
            f_lo, f_hi = freqs[hi - 1], freqs[hi]
            at_lo = self._at_cores(pe, f_lo, cores, groups, pe_obj.n_cores)
            w_latency = (1.0 / freq_mhz - 1.0 / f_hi) / (1.0 / f_lo - 1.0 / f_hi)
            w_power = (f_hi - freq_mhz) / (f_hi - f_lo)
            point = _mix(at_lo, at_hi, w_latency, w_power)
        result = (*point, _log_sigma(point))
        if len(self._extra) >= _CACHE_SIZE:  # competing load is piecewise constant: few distinct queries
            self._extra.clear()
        self._extra[(pe, freq_mhz, cores, groups)] = result
        return result

    def _at_cores(self, pe: str, freq: float, cores: float, groups: int, n_cores: int) -> tuple[float, ...]:
        if cores < 1.0:
            one = self._points[(pe, freq, 1, groups)]
            scale = 1.0 / cores
            return (one[_MEAN] * scale, one[_STD] * scale, one[_P95] * scale, one[_POWER], one[_POWER_STD])
        lo = int(cores)
        at_lo = self._points[(pe, freq, lo, groups)][:5]
        if lo in (cores, n_cores):
            return at_lo
        at_hi = self._points[(pe, freq, lo + 1, groups)][:5]
        w_latency = (1.0 / cores - 1.0 / (lo + 1)) / (1.0 / lo - 1.0 / (lo + 1))
        return _mix(at_lo, at_hi, w_latency, lo + 1 - cores)


def _mix(a: tuple[float, ...], b: tuple[float, ...], w_latency: float, w_power: float) -> tuple[float, ...]:
    """Weighted mean of two grid points: ``w`` on ``a``, latency-like and power-like weights apart."""
    u_latency, u_power = 1.0 - w_latency, 1.0 - w_power
    return (
        w_latency * a[0] + u_latency * b[0],
        w_latency * a[1] + u_latency * b[1],
        w_latency * a[2] + u_latency * b[2],
        w_power * a[3] + u_power * b[3],
        w_power * a[4] + u_power * b[4],
    )


def _log_sigma(point: tuple[float, ...]) -> float:
    """The sigma of the log-normal with the point's latency mean and std."""
    mean, std = point[_MEAN], point[_STD]
    return math.sqrt(math.log1p((std / mean) ** 2)) if mean > 0 else 0.0


def _fill_pe(pe: PE, n_groups: int, rows: Sequence[Row]) -> np.ndarray:
    """The dense (F, C, G, 5) grid of one PE: the table's rows, the missing points interpolated
    first along frequency (for each core count with rows), then along cores (module docstring)."""
    freqs = np.asarray(pe.freqs_mhz, dtype=np.float64)
    cores = np.arange(1, pe.n_cores + 1, dtype=np.float64)
    grid = np.full((len(freqs), pe.n_cores, n_groups, 5), np.nan)
    freq_index = {f: i for i, f in enumerate(pe.freqs_mhz)}
    for row in rows:
        if row.pe == pe.name:
            grid[freq_index[row.freq_mhz], row.cores - 1, row.groups - 1] = (
                row.latency_ms_mean,
                row.latency_ms_std,
                row.latency_ms_p95,
                row.power_w_mean,
                row.power_w_std,
            )
    for k in range(n_groups):
        known_cores = [c for c in range(pe.n_cores) if not np.all(np.isnan(grid[:, c, k, 0]))]
        for c in known_cores:
            grid[:, c, k] = _fill_axis(grid[:, c, k], freqs)
        for f in range(len(freqs)):
            grid[f, :, k] = _fill_axis(grid[f, :, k], cores)
    return grid


def _fill_axis(values: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """Fill the NaN rows of ``values`` (n, 5) along ``coords``: latency-like columns linear in
    1/coord, power-like columns linear in coord (the checks guarantee both ends are known)."""
    known = ~np.isnan(values[:, 0])
    if known.all():
        return values
    out = values.copy()
    for q, latency_like in enumerate(_LATENCY_LIKE):
        x = 1.0 / coords[::-1] if latency_like else coords
        v = values[::-1, q] if latency_like else values[:, q]
        k = known[::-1] if latency_like else known
        filled = np.interp(x, x[k], v[k])
        out[:, q] = filled[::-1] if latency_like else filled
    return out
