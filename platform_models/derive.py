"""Derived platform tables: latency and power of the DNN from public board constants.

A derived descriptor carries, for every PE, the constants of a throughput model and a power model,
each with its public source (or the public measurement it is fitted to); ``derive_rows`` turns them
into one table row per (pe, freq_mhz, cores, groups). The same descriptor always gives the same
bytes (values rounded to 0.1 us and 0.1 mW, written in shortest form).

Latency of one inference with k groups on ``n`` cores at ``f`` (Amdahl over cores, compute and memory
time not overlapped)::

    t = t0 + (W_k / (eta * F * f) + B_k / BW) * (s + (1 - s) / n)

W_k = 2 x MACs (FLOPs) and B_k = parameter + activation bytes of the DNN with k groups
(``dnn.count_cost``, copied into ``derivation.dnn_cost``), F = FLOPs per cycle per core (a GPU: the
whole GPU), BW = memory bandwidth one inference sees, t0 = fixed overhead per inference. The
achieved fraction of peak ``eta`` and the serial fraction ``s`` are fitted to a public latency of a
known network (``latency_fit``): with one and n threads (CPU; gives eta and s) or two networks (GPU;
gives eta and t0).

Power of the PE's rail while it runs (dynamic power at the busy cores' average, the fixed overhead
at ``overhead_activity`` of it)::

    P = static_w_per_v * V(f) + C_eff * V(f)^2 * f * (speedup_n * X + overhead_activity * t0) / t

with X the bracket above times (s + (1 - s)/n), speedup_n = 1 / (s + (1 - s)/n) the average busy
cores, C_eff per core in uW/MHz/V^2 (given, or fitted to one public power reading: ``power_fit``).
The latency spread is modelled, not measured: std = ``latency_cv`` x mean, p95 from the log-normal
with that mean and std; ``latency_n`` = 0 marks the rows as derived.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from platform_models._problems import Problem
from platform_models.descriptor import PE, Descriptor
from platform_models.errors import PlatformError

_Z95 = 1.6448536269514722  # standard normal 95th percentile


@dataclass(frozen=True)
class PEModel:
    """The throughput and power constants of one PE, fits resolved."""

    flops_per_cycle: float
    bandwidth_gbs: float
    t0_ms: float
    efficiency: float
    serial_fraction: float
    c_eff_uw: float
    static_w_per_v: float
    overhead_activity: float
    latency_cv: float
    voltage_v: tuple[float, ...]

    def latency_ms(self, freq_mhz: float, cores: int, flops: float, n_bytes: float) -> float:
        return self.t0_ms + self._work_ms(freq_mhz, flops, n_bytes) * self._amdahl(cores)

    def power_w(self, freq_mhz: float, cores: int, flops: float, n_bytes: float, voltage_v: float) -> float:
        busy_ms = self._work_ms(freq_mhz, flops, n_bytes) * self._amdahl(cores)
        total_ms = self.t0_ms + busy_ms
        dynamic_w = self.c_eff_uw * 1e-6 * voltage_v**2 * freq_mhz
        average_busy = (busy_ms / self._amdahl(cores) + self.overhead_activity * self.t0_ms) / total_ms
        return self.static_w_per_v * voltage_v + dynamic_w * average_busy

    def _work_ms(self, freq_mhz: float, flops: float, n_bytes: float) -> float:
        compute_s = flops / (self.efficiency * self.flops_per_cycle * freq_mhz * 1e6)
        return 1e3 * (compute_s + n_bytes / (self.bandwidth_gbs * 1e9))

    def _amdahl(self, cores: int) -> float:
        return self.serial_fraction + (1.0 - self.serial_fraction) / cores


def derive_rows(descriptor: Descriptor) -> list[dict[str, Any]]:
    """The derived table of ``descriptor``: every (pe, freq, cores, groups), in that order."""
    costs = _dnn_costs(descriptor)
    return [row for index in range(len(descriptor.pes)) for row in _pe_rows(descriptor, index, costs)]


def check_model(descriptor: Descriptor) -> list[Problem]:
    """Every problem of a derived descriptor's model constants, each at its line: what ``derive``
    and ``platform show`` compute from them, checked where every verb's checker runs (``store``)."""
    try:
        costs = _dnn_costs(descriptor)
    except PlatformError as exc:
        return [Problem(str(exc.path), exc.line, exc.field, exc.what)]
    problems = []
    for index in range(len(descriptor.pes)):
        try:
            for row in _pe_rows(descriptor, index, costs):
                latency_ms, power_w = row["latency_ms_mean"], row["power_w_mean"]
                if not (0 < latency_ms < math.inf and 0 < power_w < math.inf):
                    raise ValueError(f"{latency_ms!r} ms, {power_w!r} W at {row['freq_mhz']:g} MHz")
        except PlatformError as exc:
            problems.append(Problem(str(exc.path), exc.line, exc.field, exc.what))
        except (ArithmeticError, ValueError) as exc:  # e.g. a fit that divides by zero
            line = descriptor.line_of(("pes", index, "model"))
            reason = f"the constants give no usable latency and power ({exc})"
            problems.append(Problem(str(descriptor.path), line, f"pes.{index}.model", reason))
    return problems


def _pe_rows(descriptor: Descriptor, index: int, costs: list[tuple[float, float]]) -> list[dict[str, Any]]:
    pe = descriptor.pes[index]
    model = pe_model(descriptor, index)
    rows = []
    for freq, voltage in zip(pe.freqs_mhz, model.voltage_v, strict=True):
        for cores in range(1, pe.n_cores + 1):
            for groups, (flops, n_bytes) in enumerate(costs, start=1):
                latency = model.latency_ms(freq, cores, flops, n_bytes)
                power = model.power_w(freq, cores, flops, n_bytes, voltage)
                sigma = math.sqrt(math.log1p(model.latency_cv**2))
                p95 = latency * math.exp(_Z95 * sigma - 0.5 * sigma * sigma)
                rows.append(
                    {
                        "pe": pe.name,
                        "freq_mhz": freq,
                        "cores": cores,
                        "groups": groups,
                        "latency_ms_mean": round(latency, 4),
                        "latency_ms_std": round(latency * model.latency_cv, 4),
                        "latency_ms_p95": round(p95, 4),
                        "latency_n": 0,
                        "power_w_mean": round(power, 4),
                        "power_w_std": 0.0,
                    }
                )
    return rows


def model_constants(descriptor: Descriptor) -> list[dict[str, Any]]:
    """The resolved constants of every PE (fits solved), for ``platform show``."""
    rows = []
    for index, pe in enumerate(descriptor.pes):
        model = pe_model(descriptor, index)
        rows.append(
            {
                "pe": pe.name,
                "flops_per_cycle": model.flops_per_cycle,
                "eta": round(model.efficiency, 4),
                "serial_fraction": round(model.serial_fraction, 4),
                "t0_ms": round(model.t0_ms, 3),
                "bandwidth_gbs": model.bandwidth_gbs,
                "c_eff_uw_per_mhz_v2": round(model.c_eff_uw, 1),
                "static_w_per_v": model.static_w_per_v,
                "latency_cv": model.latency_cv,
            }
        )
    return rows


def pe_model(descriptor: Descriptor, index: int) -> PEModel:
    """The resolved model constants of the descriptor's ``index``-th PE (fits solved)."""
    pe = descriptor.pes[index]
    where = ("pes", index, "model")
    raw = _mapping(descriptor, descriptor.raw["pes"][index].get("model"), where)
    number = _numbers(descriptor, raw, where)
    flops_per_cycle = number("flops_per_cycle")
    bandwidth_gbs = number("bandwidth_gbs")
    t0_ms, efficiency, serial = _latency_fit(descriptor, raw, where, pe)
    voltage_mv = raw.get("voltage_mv")
    if not isinstance(voltage_mv, list) or len(voltage_mv) != len(pe.freqs_mhz):
        raise _error(
            descriptor,
            (*where, "voltage_mv"),
            f"expected one voltage per frequency ({len(pe.freqs_mhz)}), got {voltage_mv!r}",
        )
    voltage_v = tuple(float(v) / 1000.0 for v in voltage_mv)
    static_w_per_v = number("static_w_per_v")
    if "power_fit" in raw:
        c_eff_uw = _power_fit(descriptor, raw["power_fit"], where, static_w_per_v)
    else:
        c_eff_uw = number("c_eff_uw_per_mhz_v2")
    return PEModel(
        flops_per_cycle=flops_per_cycle,
        bandwidth_gbs=bandwidth_gbs,
        t0_ms=t0_ms,
        efficiency=efficiency,
        serial_fraction=serial,
        c_eff_uw=c_eff_uw,
        static_w_per_v=static_w_per_v,
        overhead_activity=number("overhead_activity"),
        latency_cv=number("latency_cv"),
        voltage_v=voltage_v,
    )


def _latency_fit(descriptor: Descriptor, raw: dict, where: tuple, pe: PE) -> tuple[float, float, float]:
    """(t0_ms, eta, s) from ``latency_fit``: the anchor's own F, f and bandwidth, its latencies."""
    fit = _mapping(descriptor, raw.get("latency_fit"), (*where, "latency_fit"))
    number = _numbers(descriptor, fit, (*where, "latency_fit"))
    peak_flops_per_s = number("flops_per_cycle") * number("freq_mhz") * 1e6
    bandwidth = number("bandwidth_gbs") * 1e9
    if fit.get("kind") == "threads":
        # Same network, 1 and n threads: the ratio gives s, the 1-thread time gives eta.
        t0_ms, flops, n_bytes = number("t0_ms"), 2.0 * number("macs"), number("bytes")
        one_ms, n_ms, n = number("latency_1_ms") - t0_ms, number("latency_n_ms") - t0_ms, number("threads")
        serial = (n_ms / one_ms - 1.0 / n) / (1.0 - 1.0 / n)
        compute_ms = one_ms - 1e3 * n_bytes / bandwidth
        efficiency = 1e3 * flops / (compute_ms * peak_flops_per_s)
        return t0_ms, efficiency, serial
    if fit.get("kind") == "two_nets":
        # Two networks on one PE: t = t0 + 1e3*flops/(eta*peak) + 1e3*bytes/bw, linear in (t0, 1/eta).
        nets = fit.get("nets")
        if not isinstance(nets, list) or len(nets) != 2:
            raise _error(descriptor, (*where, "latency_fit", "nets"), "expected two networks")
        pairs = []
        for i, net in enumerate(nets):
            net_number = _numbers(
                descriptor,
                _mapping(descriptor, net, (*where, "latency_fit", "nets", i)),
                (*where, "latency_fit", "nets", i),
            )
            rest_ms = net_number("latency_ms") - 1e3 * net_number("bytes") / bandwidth
            pairs.append((1e3 * 2.0 * net_number("macs") / peak_flops_per_s, rest_ms))
        (x1, y1), (x2, y2) = pairs
        inverse_eta = (y2 - y1) / (x2 - x1)
        return y1 - x1 * inverse_eta, 1.0 / inverse_eta, 0.0
    raise _error(
        descriptor, (*where, "latency_fit", "kind"), f"expected threads or two_nets, got {fit.get('kind')!r}"
    )


def _power_fit(descriptor: Descriptor, fit: Any, where: tuple, static_w_per_v: float) -> float:
    """C_eff (uW/MHz/V^2 per core) so that static + cores*C*V^2*f equals one public power reading."""
    number = _numbers(descriptor, _mapping(descriptor, fit, (*where, "power_fit")), (*where, "power_fit"))
    voltage_v = number("voltage_mv") / 1000.0
    dynamic_w = number("power_w") - static_w_per_v * voltage_v
    return 1e6 * dynamic_w / (number("cores") * voltage_v**2 * number("freq_mhz"))


def _dnn_costs(descriptor: Descriptor) -> list[tuple[float, float]]:
    """(FLOPs, bytes) per k = 1..G from ``derivation.dnn_cost``."""
    where = ("derivation", "dnn_cost")
    derivation = _mapping(descriptor, descriptor.raw.get("derivation"), ("derivation",))
    cost = _mapping(descriptor, derivation.get("dnn_cost"), where)
    per_k = cost.get("per_k")
    if not isinstance(per_k, list) or len(per_k) != descriptor.groups:
        raise _error(descriptor, (*where, "per_k"), f"expected {descriptor.groups} entries (k = 1..G)")
    out = []
    for i, entry in enumerate(per_k):
        number = _numbers(descriptor, _mapping(descriptor, entry, (*where, "per_k", i)), (*where, "per_k", i))
        out.append((2.0 * number("macs"), number("param_bytes") + number("activation_bytes")))
    return out


def _mapping(descriptor: Descriptor, value: Any, where: tuple) -> dict:
    if not isinstance(value, dict):
        raise _error(descriptor, where, f"expected a mapping, got {value!r}")
    return value


def _numbers(descriptor: Descriptor, data: dict, where: tuple):
    def number(key: str) -> float:
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise _error(descriptor, (*where, key), f"expected a number, got {value!r}")
        return float(value)

    return number


def _error(descriptor: Descriptor, where: tuple, message: str) -> PlatformError:
    field = ".".join(str(k) for k in where)
    return PlatformError(message, path=descriptor.path, line=descriptor.line_of(where), field=field)
