"""A problem found in a platform file: where (file, line, field) and what, formatted as one line."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from platform_models.errors import PlatformError


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a descriptor or table (``line`` is None where the file has no line for it)."""

    path: str
    line: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        return str(self.error())

    def error(self) -> PlatformError:
        message = " ".join(self.message.split())  # one line, whatever the input held
        return PlatformError(message, path=self.path, line=self.line, field=self.field)


def as_number(value: Any) -> float | None:
    """``value`` as a finite float, or None (bools are not numbers here, nor NaN or inf)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def as_int(value: Any) -> int | None:
    """``value`` as an int where it is a whole finite number (``2`` or ``2.0``), else None."""
    number = as_number(value)
    if number is None or not number.is_integer():
        return None
    return int(number)


def short(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for messages that must stay one short line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
