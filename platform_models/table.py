"""The platform table (CSV): one row per operating point (pe, freq_mhz, cores, groups).

Each row holds the DNN's latency (mean, std, p95, number of timed runs; 0 runs = a derived row
whose spread is modelled) and the PE's power while it runs. ``read_table`` parses a table and
``check_rows`` checks it against its descriptor; both return every problem with its line, so
``platform validate`` lists them all and ``load_platform`` raises the first.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from platform_models._problems import Problem, as_int, short
from platform_models.descriptor import Descriptor
from platform_models.user_text import TextProblem, read_text

COLUMNS = (
    "pe",
    "freq_mhz",
    "cores",
    "groups",
    "latency_ms_mean",
    "latency_ms_std",
    "latency_ms_p95",
    "latency_n",
    "power_w_mean",
    "power_w_std",
)
# (column, smallest allowed value, whether the smallest is excluded, largest allowed value). The
# largest values (a week in ms, a megawatt, a THz) keep every figure the model derives from a row
# (ratios, squares, energies, sums over a run) finite, so what validates every verb can use.
_MAX_LATENCY_MS = 6.048e8
_MAX_POWER_W = 1e6
_MAX_FREQ_MHZ = 1e6
_NUMBER_COLUMNS = (
    ("freq_mhz", 0.0, True, _MAX_FREQ_MHZ),
    ("latency_ms_mean", 1e-6, False, _MAX_LATENCY_MS),
    ("latency_ms_std", 0.0, False, _MAX_LATENCY_MS),
    ("latency_ms_p95", 1e-6, False, _MAX_LATENCY_MS),
    ("power_w_mean", 1e-6, False, _MAX_POWER_W),
    ("power_w_std", 0.0, False, _MAX_POWER_W),
)
_LATENCY_COLUMNS = ("latency_ms_mean", "latency_ms_std", "latency_ms_p95")
_POWER_COLUMNS = ("power_w_mean", "power_w_std")
_INT_COLUMNS = (("cores", 1), ("groups", 1), ("latency_n", 0))
_KEY_COLUMNS = ("freq_mhz", "cores", "groups")
MAX_TABLE_BYTES = 64 << 20


@dataclass(frozen=True)
class Row:
    """One operating point of a table, with the line it came from."""

    line: int
    pe: str
    freq_mhz: float
    cores: int
    groups: int
    latency_ms_mean: float
    latency_ms_std: float
    latency_ms_p95: float
    latency_n: int
    power_w_mean: float
    power_w_std: float


def read_table(descriptor: Descriptor) -> tuple[list[Row], list[Problem]]:
    """Parse the table a descriptor names: its well-formed rows and a problem for every bad cell or
    line. A table that cannot be read at all is reported at the descriptor's ``table:`` line."""
    path = descriptor.table_path
    try:
        text = read_text(path, MAX_TABLE_BYTES)
    except TextProblem as problem:
        if problem.line is not None:
            return [], [Problem(str(path), problem.line, None, problem.reason)]
        line = descriptor.line_of(("table",))
        return [], [Problem(str(descriptor.path), line, "table", f"{path}: {problem.reason}")]
    return parse_table(text, str(path))


def parse_table(text: str, where: str) -> tuple[list[Row], list[Problem]]:
    """Parse table text (``where`` names it in problems)."""
    lines = text.splitlines()
    first = 0
    while first < len(lines) and (lines[first].startswith("#") or not lines[first].strip()):
        first += 1
    if first == len(lines):
        return [], [Problem(where, None, None, f"no header line (expected: {','.join(COLUMNS)})")]
    try:
        header = [h.strip() for h in _cells(lines[first])]
    except csv.Error as exc:
        return [], [Problem(where, first + 1, None, f"not a CSV line ({exc})")]
    header_line = first + 1
    problems = [Problem(where, header_line, c, "missing column") for c in COLUMNS if c not in header]
    problems += [
        Problem(where, header_line, c, f"unknown column (expected {','.join(COLUMNS)})")
        for c in header
        if c not in COLUMNS
    ]
    if len(set(header)) != len(header):
        problems.append(Problem(where, header_line, None, "a column is named twice"))
    if problems:
        return [], problems
    rows: list[Row] = []
    for number in range(header_line + 1, len(lines) + 1):
        try:
            cells = _cells(lines[number - 1])
        except csv.Error as exc:
            problems.append(Problem(where, number, None, f"not a CSV line ({exc})"))
            continue
        if not cells or all(not c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            problems.append(Problem(where, number, None, f"expected {len(header)} cells, got {len(cells)}"))
            continue
        row = _parse_row(dict(zip(header, (c.strip() for c in cells), strict=True)), where, number, problems)
        if row is not None:
            rows.append(row)
    return rows, problems


def _cells(line: str) -> list[str]:
    # One physical line at a time, so that every problem names its true line number.
    return next(csv.reader([line]), [])


def _parse_row(cells: dict[str, str], where: str, line: int, problems: list[Problem]) -> Row | None:
    n_before = len(problems)
    values: dict[str, object] = {"line": line, "pe": cells["pe"]}
    for column, low, strict, high in _NUMBER_COLUMNS:
        try:
            value = float(cells[column])
        except ValueError:
            value = float("nan")
        if not ((value > low if strict else value >= low) and value <= high):  # NaN fails both
            relation = ">" if strict else ">="
            expected = f"expected a number {relation} {low:g} and <= {high:g}"
            problems.append(Problem(where, line, column, f"{expected}, got {short(cells[column])}"))
        values[column] = value
    for column, low in _INT_COLUMNS:
        try:
            value = as_int(float(cells[column]))
        except ValueError:
            value = None
        if value is None or value < low:
            problems.append(
                Problem(where, line, column, f"expected an integer >= {low}, got {short(cells[column])}")
            )
        values[column] = value
    bad = {p.field for p in problems[n_before:]}
    if bad & set(_KEY_COLUMNS):
        return None
    # A row whose key parsed but whose figures did not still counts for the duplicate and grid checks
    # (so one bad cell is reported once); the model is never built from a table with problems.
    return Row(**values)  # type: ignore[arg-type]


def check_rows(rows: list[Row], descriptor: Descriptor, where: str) -> list[Problem]:
    """Check parsed rows against their descriptor: known PE, listed frequency, cores and groups in
    range, no duplicates, and the grid points that interpolation needs (see ``model``)."""
    problems: list[Problem] = []
    pes = {pe.name: pe for pe in descriptor.pes}
    seen: dict[tuple, int] = {}
    present: dict[tuple[str, int], dict[int, set[float]]] = {}
    for row in rows:
        pe = pes.get(row.pe)
        if pe is None:
            problems.append(
                Problem(
                    where, row.line, "pe", f"unknown PE {short(row.pe)} (descriptor lists {', '.join(pes)})"
                )
            )
            continue
        bad = len(problems)
        if row.freq_mhz not in pe.freqs_mhz:
            problems.append(
                Problem(
                    where,
                    row.line,
                    "freq_mhz",
                    f"{row.freq_mhz:g} MHz is not in PE '{pe.name}' freqs_mhz of the descriptor",
                )
            )
        if row.cores > pe.n_cores:
            problems.append(
                Problem(where, row.line, "cores", f"{row.cores} > the {pe.n_cores} core(s) of PE '{pe.name}'")
            )
        if row.groups > descriptor.groups:
            problems.append(Problem(where, row.line, "groups", f"{row.groups} > G = {descriptor.groups}"))
        key = (row.pe, row.freq_mhz, row.cores, row.groups)
        if key in seen:
            problems.append(
                Problem(
                    where,
                    row.line,
                    None,
                    f"duplicate of line {seen[key]} "
                    f"(pe {row.pe}, {row.freq_mhz:g} MHz, {row.cores} cores, {row.groups} groups)",
                )
            )
        seen.setdefault(key, row.line)
        if len(problems) == bad:
            present.setdefault((row.pe, row.groups), {}).setdefault(row.cores, set()).add(row.freq_mhz)
    return problems + _check_grid(descriptor, present, where)


def _check_grid(descriptor: Descriptor, present: dict, where: str) -> list[Problem]:
    """Interpolation needs, per (PE, groups): rows at cores 1 and at all the PE's cores, and for every
    cores count that has rows, rows at the PE's lowest and highest frequency."""
    problems = []
    for pe in descriptor.pes:
        ends = (pe.freqs_mhz[0], pe.freqs_mhz[-1])
        for groups in range(1, descriptor.groups + 1):
            by_cores = present.get((pe.name, groups), {})
            for cores in sorted({1, pe.n_cores} - set(by_cores)):
                problems.append(
                    Problem(
                        where,
                        None,
                        "cores",
                        f"missing grid points: no row for PE "
                        f"'{pe.name}' with {cores} core(s) and {groups} groups",
                    )
                )
            for cores, freqs in sorted(by_cores.items()):
                for freq in ends:
                    if freq not in freqs:
                        problems.append(
                            Problem(
                                where,
                                None,
                                "freq_mhz",
                                f"missing grid point: no row for PE "
                                f"'{pe.name}' at {freq:g} MHz, {cores} core(s), {groups} groups "
                                "(the lowest and highest frequency are needed to interpolate)",
                            )
                        )
    return problems


def scaled_rows(
    rows: Sequence[Row],
    latency_factor: Callable[[Row], float],
    power_factor: Callable[[Row], float] | None = None,
) -> list[dict[str, Any]]:
    """``rows`` as dicts of the table's columns (ready for ``save_platform``), each row's latency (mean,
    std, p95) multiplied by ``latency_factor(row)`` and its power (mean, std) by ``power_factor(row)``:
    a table rescaled to another speed of the same board (calibration; a stale table in a benchmark)."""
    scaled = []
    for row in rows:
        values = {column: getattr(row, column) for column in COLUMNS}
        for columns, factor in ((_LATENCY_COLUMNS, latency_factor), (_POWER_COLUMNS, power_factor)):
            scale = 1.0 if factor is None else factor(row)
            for column in columns:
                values[column] = round(values[column] * scale, 4)
        scaled.append(values)
    return scaled


def format_table(rows: list[dict], comments: list[str]) -> str:
    """Rows (dicts with the COLUMNS) as table text, ``comments`` first as ``# `` lines.

    Numbers are written in their shortest round-trip form, whole numbers without ``.0``, so a
    table written twice from the same rows is byte-identical.
    """
    out = io.StringIO()
    for comment in comments:
        out.write(f"# {comment}\n" if comment else "#\n")
    out.write(",".join(COLUMNS) + "\n")
    for row in rows:
        out.write(",".join(_cell(row[c]) for c in COLUMNS) + "\n")
    return out.getvalue()


def _cell(value: object) -> str:
    if isinstance(value, str):
        return value
    number = float(value)  # type: ignore[arg-type]
    return str(int(number)) if number.is_integer() else repr(number)
