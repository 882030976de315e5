"""Regenerate the shipped synthetic traces, byte for byte: ``python -m traces.regenerate``.

Each entry of :data:`SHIPPED` is one ``dynscale trace gen`` call (``--print`` lists them); this module
runs the same library call the verb runs, so the files are identical either way (a test checks both).
``--check`` regenerates into a temporary folder and compares, exiting 1 on any difference.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from traces.shipped import DATA_DIR
from traces.synthetic import GENERATED_KINDS, NOVEL_KINDS
from traces.trace_file import save_trace

DURATION_S = 60.0


@dataclass(frozen=True)
class ShippedTrace:
    """One shipped synthetic trace: what ``dynscale trace gen`` is called with."""

    platform: str
    kind: str
    seed: int
    split: str

    @property
    def relative_path(self) -> str:
        return f"{self.platform}/{self.kind}-{self.split}-s{self.seed}.csv"

    def command(self, root: Path | str = "traces/data") -> list[str]:
        """The ``dynscale trace gen`` argv that writes this trace under ``root``."""
        return [
            "dynscale",
            "trace",
            "gen",
            "--kind",
            self.kind,
            "--platform",
            self.platform,
            "--seed",
            str(self.seed),
            "--duration",
            f"{DURATION_S:g}",
            "--split",
            self.split,
            "--out",
            f"{root}/{self.relative_path}",
        ]


# Every kind once for training and once, with other seeds, held out for evaluation; each board its own
# seeds (odroid-xu3 1-5 / 101-105, jetson-nano 11-15 / 111-115) so that boards do not share load shapes.
# The host (the reference machine, 2 CPUs) gets four, replayed for real by sim-vs-real runs; its table
# is measured, so re-profiling it means regenerating them (python -m traces.regenerate --platform host).
_BOARD_SEEDS = {"odroid-xu3": 1, "jetson-nano": 11}
SHIPPED: tuple[ShippedTrace, ...] = (
    *(
        ShippedTrace(board, kind, first + offset + i, split)
        for board, first in _BOARD_SEEDS.items()
        for split, offset in (("train", 0), ("eval", 100))
        for i, kind in enumerate(GENERATED_KINDS)
    ),
    ShippedTrace("host", "bursty", 21, "train"),
    ShippedTrace("host", "periodic", 22, "train"),
    ShippedTrace("host", "concurrent-dnn", 121, "eval"),
    ShippedTrace("host", "ramp", 122, "eval"),
    # The second held-out split: kinds no training trace has, seeds 201-205 / 211-215 / 221-225.
    *(
        ShippedTrace(platform, kind, first + i, "novel")
        for platform, first in (("odroid-xu3", 201), ("jetson-nano", 211), ("host", 221))
        for i, kind in enumerate(NOVEL_KINDS)
    ),
)


def regenerate(root: Path | str = DATA_DIR, entries: Sequence[ShippedTrace] = SHIPPED) -> list[Path]:
    """Write every entry under ``root`` (default: the shipped folder); returns the paths written."""
    from platform_models import load_platform  # a sibling of the bottom tier, needed only here
    from traces.synthetic import generate

    platforms = {name: load_platform(name) for name in sorted({e.platform for e in entries})}
    return [
        save_trace(
            generate(e.kind, platforms[e.platform], e.seed, duration_s=DURATION_S, split=e.split),
            Path(root) / e.relative_path,
        )
        for e in entries
    ]


def differences(root: Path | str = DATA_DIR, entries: Sequence[ShippedTrace] = SHIPPED) -> list[str]:
    """Relative paths of the files under ``root`` that regenerating would change, or that are missing."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = regenerate(tmp, entries)
        return [
            e.relative_path
            for e, path in zip(entries, fresh, strict=True)
            if not (Path(root) / e.relative_path).is_file()
            or not filecmp.cmp(path, Path(root) / e.relative_path, shallow=False)
        ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m traces.regenerate", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the shipped files, write nothing")
    parser.add_argument(
        "--print", action="store_true", help="print the equivalent dynscale trace gen commands"
    )
    parser.add_argument("--platform", action="append", help="only this platform's traces (repeatable)")
    args = parser.parse_args(argv)
    entries = [e for e in SHIPPED if args.platform is None or e.platform in args.platform]
    if args.print:
        print("\n".join(" ".join(e.command()) for e in entries))
        return 0
    if args.check:
        changed = differences(DATA_DIR, entries)
        print("\n".join(f"differs: {p}" for p in changed) or f"all {len(entries)} traces reproduce exactly")
        return 1 if changed else 0
    for path in regenerate(DATA_DIR, entries):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
