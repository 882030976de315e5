"""The traces that ship with dynscale: ``traces/data/<platform>/<name>.csv``.

Synthetic ones are written by :mod:`traces.regenerate` (``python -m traces.regenerate``), byte for
byte the same on every run; ``host/recorded-*.csv`` were recorded on the reference machine with
``dynscale trace record``. Each file's ``split`` header says whether it is for training or held out
for evaluation.
"""

from __future__ import annotations

from pathlib import Path

from traces.errors import TraceError
from traces.trace import SPLITS
from traces.trace_file import load_trace

DATA_DIR = Path(__file__).resolve().parent / "data"


def shipped_traces(platform_name: str, split: str | None = None) -> list[Path]:
    """The shipped trace files of a platform, sorted by path; only one split if ``split`` is given.

    Args:
        platform_name: e.g. ``"odroid-xu3"``, ``"jetson-nano"``, ``"host"``.
        split: ``"train"``, ``"eval"`` or None (both).

    Returns:
        [] for a platform without shipped traces.

    Raises:
        TraceError: for a split other than train/eval.
    """
    if split is not None and split not in SPLITS:
        raise TraceError(f"expected one of {'|'.join(SPLITS)} or None, got {split!r}", field="split")
    paths = sorted((DATA_DIR / platform_name).glob("*.csv"))
    if split is None:
        return paths
    return [p for p in paths if load_trace(p).split == split]
