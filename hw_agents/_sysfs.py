"""The sysfs tree of a board, read and written under a configurable root.

Every path the backends touch is ``ROOT/sys/...`` (or ``ROOT/proc/...``), so the same code runs on
the real kernel (root "/") and on fake trees built by tests. Reads convert units once, at the read.

Permission rule. A kernel attribute without a ``store`` method is refused to everyone, root
included (kernfs answers EACCES), and its mode shows no write bit; root's CAP_DAC_OVERRIDE does not
help there. So a file counts as writable only if ``os.access`` allows it AND its mode has a write
bit (likewise readable: R_OK and a read bit). On a fake tree, ``chmod 0444`` therefore makes a file
unwritable even to root, exactly as a read-only attribute is on the real tree.

Writes are verified: the value is read back and compared, because a plain file cannot react the
way an attribute does and a kernel may silently clamp a value.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from pathlib import Path

from hw_agents.errors import BoardAbsentError, BoardError, BoardPermissionError, SysfsFormatError

# (path, why) of each file a backend looked for in vain, could not read, or may not write.
Missing = list[tuple[str, str]]
# Writes a value to a sysfs file (the session's restorer: saves, journals, writes, verifies).
Writer = Callable[[Path, str], None]

_ANY_WRITE = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
_ANY_READ = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


class Sysfs:
    """A sysfs (and procfs) tree under ``root``.

    Args:
        root: directory that plays the role of "/" (default the real root).
    """

    def __init__(self, root: str | Path = "/") -> None:
        self.root = Path(root)

    def path(self, relative: str) -> Path:
        """``relative`` (e.g. "sys/devices/system/cpu") under the root."""
        return self.root / relative.lstrip("/")

    def glob(self, pattern: str) -> list[Path]:
        """Sorted matches of a root-relative glob pattern (natural order: policy2 before policy10)."""
        return sorted(self.root.glob(pattern.lstrip("/")), key=_natural_key)


def model_matches(fs: Sysfs, pattern: re.Pattern, board: str) -> bool:
    """Whether the device tree's model names ``board`` (False when there is no device tree).

    Raises:
        BoardAbsentError: the model names another machine.
    """
    path = fs.path("sys/firmware/devicetree/base/model")
    if not can_read(path):
        return False
    model = path.read_bytes().rstrip(b"\0\n").decode("ascii", errors="replace")
    if not pattern.search(model):
        raise BoardAbsentError(f"model is {model!r}, not {board}", path=path, field="model")
    return True


def can_read(path: Path) -> bool:
    """Whether this user may read ``path`` (see the module's permission rule)."""
    return _permitted(path, os.R_OK, _ANY_READ)


def can_write(path: Path) -> bool:
    """Whether this user may write ``path`` (see the module's permission rule)."""
    return _permitted(path, os.W_OK, _ANY_WRITE)


def why_not_writable(path: Path) -> str:
    """One phrase saying why ``path`` cannot be written (for the ``missing`` list)."""
    if not path.exists():
        return "absent"
    mode = stat.S_IMODE(path.stat().st_mode)
    return f"not permitted: cannot write (mode {mode:04o}, uid {os.geteuid()})"


def read_text(path: Path) -> str:
    """The stripped text of a sysfs file.

    Raises:
        BoardPermissionError: the file exists but may not be read.
        BoardError: the file is absent or the read fails.
    """
    if not path.exists():
        raise BoardError("file absent", path=path)
    if not can_read(path):
        mode = stat.S_IMODE(path.stat().st_mode)
        raise BoardPermissionError(f"not permitted: cannot read (mode {mode:04o})", path=path)
    try:
        return path.read_text(encoding="ascii", errors="replace").strip()
    except OSError as err:
        raise BoardError(f"read failed: {err.strerror}", path=path) from None


def read_int(path: Path) -> int:
    """The integer a sysfs file starts with (e.g. ``scaling_cur_freq`` = "1400000")."""
    return _read_number(path, int, "an integer")


def read_float(path: Path) -> float:
    """The number a sysfs file starts with (e.g. INA231 ``sensor_W`` = "1.234567")."""
    return _read_number(path, float, "a number")


def _read_number(path: Path, kind: type, expected: str):
    text = read_text(path)
    try:
        return kind(text.split()[0])
    except (ValueError, IndexError):
        raise SysfsFormatError(f"expected {expected}, got {text[:40]!r}", path=path, line=1) from None


def read_ints(path: Path) -> tuple[int, ...]:
    """Whitespace-separated integers (e.g. ``scaling_available_frequencies``), in file order."""
    text = read_text(path)
    try:
        return tuple(int(token) for token in text.split())
    except ValueError:
        raise SysfsFormatError(f"expected integers, got {text[:60]!r}", path=path, line=1) from None


def read_cpu_list(path: Path) -> tuple[int, ...]:
    """A kernel CPU list: "0-3", "4 5 6 7" (``related_cpus``) or "0-1,4" (``online``)."""
    text = read_text(path)
    cpus: list[int] = []
    try:
        for part in text.replace(",", " ").split():
            first, _, last = part.partition("-")
            cpus.extend(range(int(first), int(last or first) + 1))
    except ValueError:
        raise SysfsFormatError(f"expected a CPU list like '0-3', got {text[:40]!r}",
                               path=path, line=1) from None
    return tuple(sorted(set(cpus)))


def write_verified(path: Path, value: str) -> None:
    """Write ``value`` to a sysfs attribute, then read it back and compare.

    Raises:
        BoardPermissionError: the file may not be written.
        BoardError: the kernel refused the value, or reads back something else.
    """
    if not can_write(path):
        raise BoardPermissionError(why_not_writable(path), path=path)
    try:
        with open(path, "w", encoding="ascii") as file:
            file.write(value + "\n")
    except OSError as err:
        raise BoardError(f"writing {value!r} failed: {err.strerror}", path=path) from None
    back = read_text(path)
    if back != value:
        raise BoardError(f"wrote {value!r}, read back {back!r}", path=path)


def write_bytes(path: Path, data: bytes) -> None:
    """Write raw bytes (the restorer puts back a file's original content this way)."""
    with open(path, "wb") as file:
        file.write(data)


def _permitted(path: Path, access_mode: int, mode_bits: int) -> bool:
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return bool(mode & mode_bits) and os.access(path, access_mode)


def _natural_key(path: Path) -> tuple:
    # "policy10" after "policy2"; "thermal_zone10" after "thermal_zone9".
    digits = "".join(ch for ch in path.name if ch.isdigit())
    return (str(path.parent), path.name.rstrip("0123456789:"), int(digits) if digits else -1, path.name)
