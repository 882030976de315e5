"""Benchmark of the dynamic DNN: `python benchmarks/dnn_bench.py [dynscale dnn bench flags]`.

Runs the same library function as `dynscale dnn bench` (dnn.bench.bench): per k, batch-1 CPU
latency of the dynamic model against a static network with exactly k groups, interleaved in one
run; the switch time; the footprint against G static models. Prints ratios, asserts nothing.
"""

from __future__ import annotations

import _entry  # first: a Ctrl-C or SIGTERM while the modules below load waits for _entry.run

import sys


def main() -> int:
    from dynscale.cli import run_verb

    return run_verb(["dnn", "bench", *sys.argv[1:]])


if __name__ == "__main__":
    _entry.run(main, "dnn_bench")
