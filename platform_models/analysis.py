"""What a platform offers a runtime manager: dynamic ranges and Pareto fronts of its configurations.

The *dynamic range* of a figure (time or energy per inference) is max / min over a set of
configurations, all cores of the PE left to the DNN (read as the platform's contention rule reads a
free board: under ``fair``, the fastest thread count):

* ``time_groups`` / ``energy_groups``: groups alone, i.e. k = 1..G on the fastest PE (least latency
  with all G groups) at its highest frequency;
* ``time_all`` / ``energy_all``: every (k, pe, freq), i.e. groups combined with mapping and DVFS.

The Pareto fronts keep the configurations that no other beats on both accuracy and latency (or
energy), on a free board too.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from platform_models.contention import Contention
from platform_models.model import PlatformModel


def dynamic_range(platform: PlatformModel) -> dict[str, Any]:
    """The four dynamic ranges (module docstring) and the PE and frequency the groups-alone ones use."""
    metrics = Contention(platform).config_metrics().metrics
    configs = platform.configs()
    top = [i for i, c in enumerate(configs) if c.freq_mhz == platform.pe(c.pe).freqs_mhz[-1]]
    full = [i for i in top if configs[i].groups == platform.groups]
    fastest = configs[min(full, key=lambda i: metrics.latency_ms[i])]
    alone = [i for i in top if configs[i].pe == fastest.pe]
    return {
        "groups_pe": fastest.pe,
        "groups_freq_mhz": fastest.freq_mhz,
        "time_groups": _ratio(metrics.latency_ms[alone]),
        "energy_groups": _ratio(metrics.energy_mj[alone]),
        "time_all": _ratio(metrics.latency_ms),
        "energy_all": _ratio(metrics.energy_mj),
    }


def pareto_front(platform: PlatformModel, figure: str = "latency_ms") -> list[dict[str, Any]]:
    """Configurations (all cores) not beaten on both accuracy and ``figure`` ("latency_ms" or
    "energy_mj"), cheapest first."""
    metrics = Contention(platform).config_metrics().metrics
    values = {"latency_ms": metrics.latency_ms, "energy_mj": metrics.energy_mj}[figure]
    front, best_accuracy = [], -1.0
    for i in np.argsort(values, kind="stable"):
        config = platform.configs()[i]
        accuracy = platform.accuracy[config.groups - 1]
        if accuracy > best_accuracy:
            best_accuracy = accuracy
            front.append(
                {
                    "groups": config.groups,
                    "pe": config.pe,
                    "freq_mhz": config.freq_mhz,
                    "accuracy": accuracy,
                    "latency_ms": float(metrics.latency_ms[i]),
                    "power_w": float(metrics.power_w[i]),
                    "energy_mj": float(metrics.energy_mj[i]),
                }
            )
    return front


def _ratio(values: np.ndarray) -> float:
    return float(np.max(values) / np.min(values))
