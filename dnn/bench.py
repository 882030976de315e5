"""The dynamic DNN against plain static networks: batch-1 CPU latency, switch time, memory footprint.

For each k the dynamic model (k groups active) and a static network built with exactly k groups
(``dnn.static``, same weights) run alternately in the same loop, so load from other processes hits
both alike; the medians and their ratio are reported. The switch time is that of
``set_active_groups`` alone. The footprint compares the dynamic model's float bytes with those of G
static models, one per k, which is what a system without group pruning would have to keep.
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any

import torch

from dnn.cost import count_cost
from dnn.model import DynamicNet
from dnn.static import static_from_dynamic

SWITCHES_PER_SAMPLE = 1000  # one set_active_groups is far below the timer's useful resolution


def _float_bytes(module: torch.nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in module.state_dict().values() if t.is_floating_point())


def _time_ms(net: torch.nn.Module, x: torch.Tensor) -> float:
    start = time.perf_counter_ns()
    net(x)
    return (time.perf_counter_ns() - start) / 1e6


def _switch_us(model: DynamicNet, n_samples: int) -> float:
    ks = [k for k in range(1, model.groups + 1)] * (SWITCHES_PER_SAMPLE // model.groups)
    samples = []
    for _ in range(n_samples):
        start = time.perf_counter_ns()
        for k in ks:
            model.set_active_groups(k)
        samples.append((time.perf_counter_ns() - start) / 1e3 / len(ks))
    return statistics.median(samples)


@torch.no_grad()
def bench(model: DynamicNet, n_runs: int = 200, n_warmup: int = 20, seed: int = 0,
          progress: bool = False) -> dict[str, Any]:
    """Measure ``model`` (left in eval mode with k = G) against static networks with k groups.

    Args:
        model: the dynamic DNN (trained or not: latency does not depend on the values).
        n_runs: timed batch-1 forward passes per network and k (the median is reported).
        n_warmup: untimed passes first (allocator, caches, oneDNN primitive set-up).
        seed: of the random input image.
        progress: a tqdm bar over the timed runs on stderr (updated between runs, never inside one).

    Returns:
        ``rows`` (per k: dynamic_ms, static_ms, latency_ratio_vs_static, macs),
        ``latency_ratio_vs_static`` (list, index k-1), ``switch_us``, ``dynamic_param_bytes``,
        ``static_param_bytes`` (the G static models together), ``footprint_ratio``, and the settings.
    """
    from tqdm import tqdm

    model.eval()
    x = torch.randn(1, *model.input_shape, generator=torch.Generator().manual_seed(seed))
    bar = tqdm(total=model.groups * n_runs, desc="bench", unit="run", file=sys.stderr, disable=not progress)
    rows = []
    static_bytes = 0
    for k in range(1, model.groups + 1):
        static = static_from_dynamic(model, k).eval()
        static_bytes += _float_bytes(static)
        model.set_active_groups(k)
        for _ in range(n_warmup):
            model(x)
            static(x)
        dynamic_ms, static_ms = [], []
        for run in range(n_runs):  # alternate who goes first so neither always gets the warmer cache
            if run % 2:
                dynamic_ms.append(_time_ms(model, x))
                static_ms.append(_time_ms(static, x))
            else:
                static_ms.append(_time_ms(static, x))
                dynamic_ms.append(_time_ms(model, x))
            bar.update()
        dynamic_median, static_median = statistics.median(dynamic_ms), statistics.median(static_ms)
        rows.append(
            {
                "groups": k,
                "dynamic_ms": dynamic_median,
                "static_ms": static_median,
                "latency_ratio_vs_static": dynamic_median / static_median,
                "macs": count_cost(model.arch, model.groups, model.connectivity, k, model.widths).macs,
            }
        )
    bar.close()
    switch_us = _switch_us(model, n_samples=50)
    model.set_active_groups(model.groups)
    dynamic_bytes = _float_bytes(model)
    return {
        "arch": model.arch,
        "G": model.groups,
        "connectivity": model.connectivity,
        "threads": torch.get_num_threads(),
        "n_runs": n_runs,
        "rows": rows,
        "latency_ratio_vs_static": [row["latency_ratio_vs_static"] for row in rows],
        "switch_us": switch_us,
        "dynamic_param_bytes": dynamic_bytes,
        "static_param_bytes": static_bytes,
        "footprint_ratio": static_bytes / dynamic_bytes,
    }
