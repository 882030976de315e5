"""The trace file: CSV with a short ``# key: value`` header, read with every problem reported.

    # dynscale-trace: 1
    # platform: odroid-xu3
    # kind: bursty
    # seed: 3
    # split: train
    # frame_period_ms: 100
    # duration_s: 60
    # description: free text
    time_s,load_a7,load_a15,load_gpu,latency_budget_ms,power_budget_w,energy_budget_mj
    0,1,0,0,50,,
    2.5,3.5,1,0.4,50,3,

The rules are in docs/formats.md. :func:`validate_trace` collects every problem as one line
``FILE:LINE: field 'NAME': what``; :func:`load_trace` raises the first as :class:`TraceError`.
:func:`save_trace` writes the shortest text that reads back to the same floats, so a trace survives a
round trip exactly and a seeded generator gives byte-identical files.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from platform_models.atomic import atomic_path
from platform_models.user_text import TextProblem, read_text
from traces.errors import TraceError
from traces.trace import (
    BUDGET_FIELDS,
    FORMAT_VERSION,
    Trace,
    check_against_pes,
    check_columns,
    check_metadata,
    check_pe_names,
)

# Header keys in the order save_trace writes them; seed and description may be absent.
HEADER_KEYS = (
    "dynscale-trace",
    "platform",
    "kind",
    "seed",
    "split",
    "frame_period_ms",
    "duration_s",
    "description",
)
_OPTIONAL_KEYS = ("seed", "description")
MAX_TRACE_BYTES = 256 << 20
_PROGRESS_EVERY = 4096  # lines between two progress calls
Progress = Callable[[int, int], None]
# "# key: value"; a comment line that does not look like this is a free comment.
_HEADER_LINE = re.compile(r"#\s*([A-Za-z_][A-Za-z0-9_-]*)\s*:(.*)")


def load_trace(path: str | Path, platform: Any = None, progress: Progress | None = None) -> Trace:
    """Read and validate a trace file.

    Args:
        path: the CSV file (a regular file; a FIFO or device is refused, not waited on).
        platform: if given (a ``PlatformModel`` or anything with ``pes`` of ``name``/``n_cores``),
            also check that the load columns are its PEs and fit their cores.
        progress: called as ``progress(lines_done, lines_total)`` while the rows are read (a big
            trace takes seconds: the command line shows it).

    Raises:
        TraceError: the first problem, as ``FILE:LINE: field 'NAME': what``.
    """
    parsed = _parse(Path(path), progress)
    if parsed.errors:
        raise parsed.errors[0]
    trace = parsed.trace()
    if platform is not None:
        trace.check_platform(platform)
    return trace


def validate_trace(
    path: str | Path, platform: Any = None, progress: Progress | None = None
) -> list[str]:
    """Every problem of a trace file, one line each (``FILE:LINE: field 'NAME': what``); [] if valid.

    Args:
        path: the CSV file.
        platform: as for :func:`load_trace`, or a function of the trace's own ``platform`` header
            value giving the platform to check against (None: none).
        progress: as for :func:`load_trace`.
    """
    parsed = _parse(Path(path), progress)
    if not parsed.errors and callable(platform):
        platform = platform(parsed.meta["platform"])
    if not parsed.errors and platform is not None:
        trace = parsed.trace()
        parsed.errors += [
            TraceError(what, path=path, line=trace._line(row), field=name)
            for row, name, what in check_against_pes(trace, platform)
        ]
    return [str(e) for e in parsed.errors]


def save_trace(trace: Trace, path: str | Path) -> Path:
    """Write ``trace`` to ``path`` atomically (a temp file in the same folder, then a rename).

    Returns:
        The path written.
    """
    path = Path(path)
    text = format_trace(trace)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="\n")
    return path


def format_trace(trace: Trace) -> str:
    """The file text of ``trace`` (what :func:`save_trace` writes)."""
    header = {
        "dynscale-trace": str(FORMAT_VERSION),
        "platform": trace.platform,
        "kind": trace.kind,
        "seed": None if trace.seed is None else str(trace.seed),
        "split": trace.split,
        "frame_period_ms": format_number(trace.frame_period_ms),
        "duration_s": format_number(trace.duration_s),
        "description": " ".join(trace.description.split()) or None,
    }
    lines = [f"# {key}: {value}" for key, value in header.items() if value is not None]
    columns = ["time_s", *(f"load_{pe}" for pe in trace.pe_names), *BUDGET_FIELDS]
    lines.append(",".join(columns))
    rows = zip(*(c.tolist() for c in trace._columns()), strict=True)
    lines += [",".join(format_number(v) for v in row) for row in rows]
    return "\n".join(lines) + "\n"


def format_number(value: float) -> str:
    """Shortest text that reads back as the same float, without exponent; NaN -> empty cell."""
    if math.isnan(value):
        return ""
    return np.format_float_positional(value, trim="-")


# --- parsing ------------------------------------------------------------------------------------


@dataclass
class _Parsed:
    """What one pass over a file found: the values that parsed, and every problem."""

    path: Path
    errors: list[TraceError] = field(default_factory=list)
    header: dict[str, tuple[str, int]] = field(default_factory=dict)  # key -> (raw value, line)
    meta: dict[str, Any] = field(default_factory=dict)  # typed header values that parsed
    columns: list[str] = field(default_factory=list)
    rows: list[list[float]] = field(default_factory=list)
    row_lines: list[int] = field(default_factory=list)

    def error(self, what: str, line: int | None = None, name: str | None = None) -> None:
        self.errors.append(TraceError(what, path=self.path, line=line, field=name))

    def arrays(self) -> dict[str, np.ndarray]:
        table = np.array(self.rows, dtype=np.float64).reshape(len(self.rows), len(self.columns))
        return {name: table[:, i] for i, name in enumerate(self.columns)}

    def trace(self) -> Trace:
        arrays = self.arrays()
        return Trace(
            **self.meta,
            time_s=arrays["time_s"],
            load={c.removeprefix("load_"): v for c, v in arrays.items() if c.startswith("load_")},
            **{name: arrays[name] for name in BUDGET_FIELDS},
            path=self.path,
            _row_lines=tuple(self.row_lines),
        )


def _parse(path: Path, progress: Progress | None) -> _Parsed:
    parsed = _Parsed(path)
    lines = _read_lines(parsed)
    if lines is None:
        return parsed
    body_start = _parse_header(parsed, lines)
    if body_start is None:
        parsed.error(
            "expected a column header line (time_s,load_<pe>...,"
            + ",".join(BUDGET_FIELDS)
            + ") after the # header",
            len(lines) or None,
        )
    _convert_header(parsed)
    if (body_start is not None and _parse_columns(parsed, lines[body_start - 1], body_start)
            and _parse_rows(parsed, lines, body_start, progress)):
        _check_values(parsed, body_start)
    parsed.errors.sort(key=lambda e: e.line or 0)
    return parsed


def _read_lines(parsed: _Parsed) -> list[str] | None:
    try:
        text = read_text(parsed.path, MAX_TRACE_BYTES)
    except TextProblem as problem:
        parsed.error(problem.reason if problem.line else f"cannot read the trace: {problem}", problem.line)
        return None
    return [line.rstrip("\r") for line in text.split("\n")]


def _parse_header(parsed: _Parsed, lines: list[str]) -> int | None:
    """Record the ``# key: value`` lines; return the 1-based line of the column header (None if none)."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if not line.lstrip().startswith("#"):
            return number
        match = _HEADER_LINE.fullmatch(line.strip())
        if match is None:
            continue  # a free comment
        key, value = match.group(1), match.group(2).strip()
        if key not in HEADER_KEYS:
            parsed.error(f"unknown header key (expected one of {', '.join(HEADER_KEYS)})", number, key)
        elif key in parsed.header:
            parsed.error(f"repeated header key (first on line {parsed.header[key][1]})", number, key)
        else:
            if key != "description":
                value = value.split("#", 1)[0].strip()  # "# kind: bursty   # a note" keeps "bursty"
            parsed.header[key] = (value, number)
    return None


def _convert_header(parsed: _Parsed) -> None:
    header = parsed.header
    for key in HEADER_KEYS:
        if key not in header and key not in _OPTIONAL_KEYS:
            parsed.error("missing from the header (expected a line '# " + key + ": ...')", None, key)
    if "dynscale-trace" in header and header["dynscale-trace"][0] != str(FORMAT_VERSION):
        value, number = header["dynscale-trace"]
        parsed.error(f"expected format version {FORMAT_VERSION}, got {value!r}", number, "dynscale-trace")
    meta: dict[str, Any] = {}
    for key in ("platform", "kind", "split", "description"):
        if key in header:
            meta[key] = header[key][0]
    for key in ("frame_period_ms", "duration_s"):
        if key in header:
            value, number = header[key]
            meta[key] = _number(parsed, value, number, key)
    if "seed" in header:
        value, number = header["seed"]
        if re.fullmatch(r"[0-9]+", value):
            meta["seed"] = int(value)
        else:
            parsed.error(f"expected an integer >= 0, got {value!r}", number, "seed")
    for key, what in check_metadata(
        meta.get("platform"),
        meta.get("kind"),
        meta.get("split"),
        meta.get("frame_period_ms"),
        meta.get("duration_s"),
    ):
        parsed.error(what, header[key][1], key)
    parsed.meta = meta


def _parse_columns(parsed: _Parsed, line: str, number: int) -> bool:
    """Check the column header; False if the rows cannot be read against it."""
    columns = [c.strip() for c in line.split(",")]
    ok = True
    if columns[0] != "time_s":
        parsed.error(f"expected the first column to be time_s, got {columns[0]!r}", number, "time_s")
        ok = False
    seen = set()
    for name in columns[1:]:
        if name in seen:
            parsed.error("repeated column", number, name)
            ok = False
        elif name not in BUDGET_FIELDS and not name.startswith("load_"):
            parsed.error("unknown column (expected time_s, load_<pe> or a budget column)", number, name)
            ok = False
        seen.add(name)
    for name in BUDGET_FIELDS:
        if name not in seen:
            parsed.error(
                "missing column (an empty cell means no budget; the column must be there)", number, name
            )
            ok = False
    pe_names = tuple(c.removeprefix("load_") for c in columns if c.startswith("load_"))
    for name, what in check_pe_names(pe_names):
        parsed.error(what, number, name)  # the rows still read; they are checked too
    parsed.columns = columns
    return ok


def _parse_rows(parsed: _Parsed, lines: list[str], body_start: int, progress: Progress | None) -> bool:
    """Read the rows against the column header; False when no row fits it (reported once)."""
    n_columns = len(parsed.columns)
    widths: dict[int, list[int]] = {}  # cells per row -> line numbers of the rows that do not fit
    n_rows = 0
    for number in range(body_start + 1, len(lines) + 1):
        if progress is not None and number % _PROGRESS_EVERY == 0:
            progress(number, len(lines))
        line = lines[number - 1]
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        n_rows += 1
        cells = line.split(",")
        if len(cells) != n_columns:
            widths.setdefault(len(cells), []).append(number)
            continue
        values = [
            _cell(parsed, cell.strip(), number, name)
            for cell, name in zip(cells, parsed.columns, strict=True)
        ]
        if all(v is not None for v in values):  # a row with a bad cell is reported and left out
            parsed.rows.append(values)  # type: ignore[arg-type]
            parsed.row_lines.append(number)
    if n_rows and len(widths) == 1 and len(next(iter(widths.values()))) == n_rows:
        # Every row has the same other width: the header is what is wrong, once, not every row.
        (n_cells,) = widths
        parsed.error(f"the header names {n_columns} columns but every row has {n_cells} cells: a column "
                     f"is {'missing from' if n_cells > n_columns else 'extra in'} this header line",
                     body_start)
        return False
    for n_cells, numbers in widths.items():
        for number in numbers:
            parsed.error(f"expected {n_columns} comma-separated cells, got {n_cells}", number)
    return True


def _cell(parsed: _Parsed, cell: str, number: int, name: str) -> float | None:
    if cell == "" and name in BUDGET_FIELDS:
        return math.nan
    return _number(parsed, cell, number, name)


def _number(parsed: _Parsed, text: str, number: int, name: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        parsed.error(f"expected a finite number, got {text!r}", number, name)
        return None
    return value


def _check_values(parsed: _Parsed, column_line: int) -> None:
    arrays = parsed.arrays()
    load = {c.removeprefix("load_"): v for c, v in arrays.items() if c.startswith("load_")}
    budgets = {name: arrays[name] for name in BUDGET_FIELDS}
    duration_s = parsed.meta.get("duration_s")
    for row, name, what in check_columns(
        arrays["time_s"], math.nan if duration_s is None else duration_s, load, budgets
    ):
        parsed.error(what, column_line if row is None else parsed.row_lines[row], name)
