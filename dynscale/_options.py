"""Options shared by the verbs, and their checks before any work: numbers with a range, output
paths, the board.

A numeric option's ``type`` is a :class:`Number`: argparse rejects a value outside its range with its
one-line usage error (exit 2), and ``--help`` shows the range. An output path is checked before the
work starts (a folder where a file is wanted, a place nobody may write), and a folder a failed command
created is removed (:func:`removed_on_error`), so that a bad ``--out`` costs nothing and leaves nothing.
"""

from __future__ import annotations

import argparse
import math
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BOARDS = ("host", "odroid-xu3", "jetson-nano")


class Number:
    """An argparse ``type``: an int or float within a range. ``text`` ("an integer >= 1") names it in
    ``--help`` and in the error for a value outside it."""

    def __init__(self, kind: type, low: float | None = None, *, above: bool = False,
                 high: float | None = None) -> None:
        self.kind, self.low, self.above, self.high = kind, low, above, high
        bounds = [f"{'>' if above else '>='} {low:g}"] if low is not None else []
        bounds += [f"<= {high:g}"] if high is not None else []
        self.text = f"{'an integer' if kind is int else 'a number'} {' and '.join(bounds)}".strip()
        self.__name__ = self.text  # argparse names a type by its __name__ in some messages

    def __call__(self, text: str) -> int | float:
        try:
            value = self.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {self.text}, got {text!r}") from None
        below = self.low is not None and (value <= self.low if self.above else value < self.low)
        over = self.high is not None and value > self.high
        if below or over or not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected {self.text}, got {text!r}")
        return value


COUNT = Number(int, 1)
"""How many of something: an integer >= 1."""
NONNEGATIVE = Number(int, 0)
"""A seed, or a count that may be zero: an integer >= 0."""
POSITIVE = Number(float, 0, above=True)
"""A length of time, a period, a budget, a rate: a number > 0."""


def add_board_flag(parser: argparse.ArgumentParser) -> None:
    """``--board``, the same in every verb that opens a board."""
    parser.add_argument("--board", default="host", choices=BOARDS,
                        help="which board this machine is: host (any Linux machine), odroid-xu3 or "
                        "jetson-nano (default: host)")


def check_out_file(path: Path, option: str = "--out") -> Path:
    """``path`` as a file a command may write, checked before any work: not a folder, and in a folder
    that exists or can be made, where a file can be created.

    Raises:
        InputError: naming the path and why (one line, exit 2).
    """
    if path.is_dir():
        _refuse(path, option, "is a folder; give a file name")
    _check_writable(path.parent, path, option)
    return path


def check_out_dir(path: Path, option: str = "--out", *, overwrite: bool | None = None) -> Path:
    """``path`` as a folder a command may write into, checked before any work. With ``overwrite``
    False (a verb that offers ``--overwrite``), a folder already holding files is refused: two result
    sets would mix.

    Raises:
        InputError: naming the path and why (one line, exit 2).
    """
    if path.exists() and not path.is_dir():
        _refuse(path, option, "is a file, not a folder")
    if overwrite is False and path.is_dir() and any(path.iterdir()):
        _refuse(path, option, "folder not empty (another run's results would mix with these); pass "
                "--overwrite to write over them, or choose a new folder")
    _check_writable(path, path, option)
    return path


@contextmanager
def removed_on_error(path: Path) -> Iterator[None]:
    """Remove ``path`` if it did not exist before the block and the block fails: a failed command
    leaves nothing behind (an interrupted one keeps what it wrote, e.g. a training's checkpoints)."""
    existed = path.exists()
    try:
        yield
    except Exception:
        if not existed:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        raise


def _check_writable(folder: Path, path: Path, option: str) -> None:
    """The nearest existing folder on the way to ``folder`` must take a new file: tried, not read from
    the permission bits (root passes every access check, yet cannot create a file in /proc)."""
    existing = folder.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        _refuse(path, option, f"{existing} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        _refuse(path, option, f"cannot write in {existing} ({exc.strerror or exc})")


def _refuse(path: Path, option: str, why: str) -> None:
    from platform_models.errors import InputError

    raise InputError(why, path=path, field=option)
