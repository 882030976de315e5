"""Benchmark of the dynamic DNN: `python benchmarks/dnn_bench.py [dynscale dnn bench flags]`.

Runs the same library function as `dynscale dnn bench` (dnn.bench.bench): per k, batch-1 CPU
latency of the dynamic model against a static network with exactly k groups, interleaved in one
run; the switch time; the footprint against G static models. Prints ratios, asserts nothing.
"""

from __future__ import annotations

import sys

from dynscale.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["dnn", "bench", *sys.argv[1:]]))
