"""Where platforms live and how they are read, checked and written.

``load_platform`` takes a shipped platform's name (``platform_models/data/NAME.yaml``) or a path to
any descriptor; ``validate_platform`` lists every problem of a descriptor + table pair;
``save_platform`` writes a pair atomically (the profiler's way to publish a measured platform).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from platform_models._problems import Problem
from platform_models.atomic import write_text_atomic
from platform_models.derive import check_model, derive_rows
from platform_models.descriptor import Descriptor, check_descriptor, read_descriptor
from platform_models.errors import PlatformError
from platform_models.model import PlatformModel
from platform_models.table import COLUMNS, Row, check_rows, format_table, parse_table, read_table

DATA_DIR = Path(__file__).resolve().parent / "data"
_SHIPPED_ORDER = ("odroid-xu3", "jetson-nano", "host")


def shipped_platforms() -> tuple[str, ...]:
    """Names of the platforms shipped in ``platform_models/data`` (only those whose files exist)."""
    names = {p.stem for p in DATA_DIR.glob("*.yaml")}
    first = [n for n in _SHIPPED_ORDER if n in names]
    return (*first, *sorted(names - set(first)))


def resolve_platform(name_or_path: str | os.PathLike) -> Path:
    """The descriptor path for a shipped platform's name or a path (PlatformError if neither)."""
    text = os.fspath(name_or_path)
    shipped = DATA_DIR / f"{text}.yaml"
    if "/" not in text and shipped.is_file():
        return shipped
    path = Path(text)
    if path.is_file():
        return path
    if path.exists():
        raise PlatformError("not a regular file; expected a descriptor .yaml", path=text)
    raise PlatformError(
        f"no such platform (shipped: {', '.join(shipped_platforms())}; "
        "or give the path of a descriptor .yaml)",
        path=text,
    )


def load_platform(name_or_path: str | os.PathLike) -> PlatformModel:
    """Load and check a platform; PlatformError (one line: file, line, field) on the first problem."""
    path = resolve_platform(name_or_path)
    descriptor, rows, problems = _read(path)
    if problems:
        raise problems[0].error()
    assert descriptor is not None
    return PlatformModel(descriptor, rows)


def validate_platform(path: str | os.PathLike) -> list[str]:
    """Every problem of the descriptor at ``path`` and its table, one line each ("FILE:LINE: field ...");
    an empty list when the platform is valid."""
    try:
        resolved = resolve_platform(path)
    except PlatformError as exc:
        return [str(exc)]
    return [str(p) for p in _read(resolved)[2]]


def save_platform(
    descriptor: dict[str, Any], rows: Sequence[dict[str, Any]], yaml_path: str | os.PathLike
) -> Path:
    """Write a descriptor and its table next to each other, atomically, after checking both.

    Args:
        descriptor: the descriptor mapping (docs/formats.md); its ``table`` names the CSV, relative
            to ``yaml_path`` (set to ``<stem>.csv`` when absent).
        rows: one dict per operating point with exactly the table's columns.
        yaml_path: where the descriptor goes.

    Returns:
        The table's path. Nothing is written when a check fails (PlatformError, as for loading).
    """
    yaml_path = Path(yaml_path)
    descriptor = dict(descriptor)
    descriptor.setdefault("table", f"{yaml_path.stem}.csv")
    checked, problems = check_descriptor(descriptor, yaml_path)
    if problems:
        raise problems[0].error()
    assert checked is not None
    text = _table_text(rows, checked, str(checked.table_path), [_provenance_line(descriptor)])
    write_text_atomic(checked.table_path, text)
    write_text_atomic(yaml_path, yaml.safe_dump(descriptor, sort_keys=False, allow_unicode=True))
    return checked.table_path


def write_table(
    path: Path, rows: Sequence[dict[str, Any]], descriptor: Descriptor, comments: Sequence[str]
) -> str:
    """Check ``rows`` against ``descriptor`` and return the table text (with ``comments``), unwritten."""
    return _table_text(rows, descriptor, str(path), comments)


def _table_text(
    rows: Sequence[dict[str, Any]], descriptor: Descriptor, where: str, comments: Sequence[str] = ()
) -> str:
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or set(row) != set(COLUMNS):
            raise PlatformError(
                f"row {i}: expected exactly the columns {','.join(COLUMNS)}, "
                f"got {sorted(row) if isinstance(row, dict) else type(row).__name__}",
                path=where,
            )
    try:
        text = format_table(list(rows), list(comments))
    except (TypeError, ValueError) as exc:
        raise PlatformError(
            f"a cell is not a number where one is expected ({exc})", path=where
        ) from None
    parsed, problems = parse_table(text, where)
    problems += check_rows(parsed, descriptor, where) if not problems else []
    if problems:
        raise problems[0].error()
    return text


def derive_table_text(descriptor: Descriptor) -> str:
    """The derived table's bytes: a comment header naming its provenance, then the rows."""
    if descriptor.provenance_kind != "derived":
        raise PlatformError(
            "not 'derived'; only derived tables are regenerated",
            path=descriptor.path,
            field="provenance.kind",
        )
    comments = [
        f"{descriptor.name}: DERIVED by 'dynscale platform derive' from {descriptor.path.name}, not measured",
        f"model: {descriptor.raw['provenance']['model']}",
        "constants and their public sources: see the descriptor; latency spread (std, p95) is modelled.",
    ]
    return write_table(descriptor.table_path, derive_rows(descriptor), descriptor, comments)


def derive_shipped(check: bool = False) -> list[tuple[Path, bool]]:
    """Regenerate the table of every shipped derived platform; with ``check`` only compare.

    Returns:
        (table path, whether the file on disk already held exactly the derived bytes) per platform.
    """
    results = []
    for name in shipped_platforms():
        descriptor, problems = read_descriptor(DATA_DIR / f"{name}.yaml")
        if problems:
            raise problems[0].error()
        assert descriptor is not None
        if descriptor.provenance_kind != "derived":
            continue
        text = derive_table_text(descriptor)
        path = descriptor.table_path
        same = path.is_file() and path.read_bytes() == text.encode("utf-8")
        if not same and not check:
            write_text_atomic(path, text)
        results.append((path, same))
    return results


def _provenance_line(descriptor: dict[str, Any]) -> str:
    """The table's first comment: what the rows are and where they came from."""
    prov = descriptor["provenance"]
    if prov["kind"] == "measured":
        line = (f"{descriptor['name']}: MEASURED on {prov['host']}, {prov['date']}, by {prov['tool']}; "
                f"method: {prov['method']}")
    else:
        line = f"{descriptor['name']}: DERIVED; model: {prov['model']}"
    if "calibration" in prov:  # hw_agents.calibrate: every latency of a PE scaled by a measured factor
        calibration = prov["calibration"]
        line += (f"; then CALIBRATED on {calibration['host']}, {calibration['date']}: latency x "
                 f"{calibration['latency_factor']}, power x {calibration['power_factor']}")
    return line


def _read(path: Path) -> tuple[Descriptor | None, list[Row], list[Problem]]:
    """The one checker every verb's platform goes through (``load_platform``, ``validate_platform``):
    the descriptor, the model constants ``derive`` and ``platform show`` use, and the table."""
    descriptor, problems = read_descriptor(path)
    if descriptor is None:
        return None, [], problems
    if descriptor.provenance_kind == "derived" and "derivation" in descriptor.raw:
        problems = check_model(descriptor)
    rows, table_problems = read_table(descriptor)
    problems += table_problems
    if rows or not table_problems:  # a table that did not parse at all has no grid worth checking
        problems += check_rows(rows, descriptor, str(descriptor.table_path))
    return descriptor, rows, problems
