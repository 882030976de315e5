"""Putting a board back: every file a session writes gets its original bytes back.

A ``Restorer`` saves a file's original bytes before its first write, journals them to a JSON file
(written atomically before the change, so a SIGKILLed run can be undone later by
``restore_journal``), and restores everything in reverse order on normal exit, on an exception, and
on SIGINT and SIGTERM (its handlers restore, then chain to the handlers that were there before).

One run at a time: a session holds ``flock`` on ``<journal>.lock`` from before its journal check to
its end (the kernel drops it when the process dies, however), with the holder's pid and command in
the file, so a second run is refused naming the first, and ``board restore`` touches a journal only
when no live run holds it. The lock file stays (removing a file others may be locking would let
two runs lock two different files).

Journal format (JSON): ``{"version": 1, "pid": N, "board": NAME, "sysfs_root": DIR,
"entries": [{"path": ABS_PATH, "original_hex": HEX, "computed": BOOL}, ...]}`` in write order.
``computed`` marks a file whose original text is computed by the kernel and refused on write
(``scaling_setspeed`` reads "<unsupported>" unless the governor is userspace): it is restored when
the kernel takes it (a fake tree does), and a refusal is expected, since restoring the governor
restores it.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import signal
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from hw_agents._sysfs import can_read, write_bytes, write_verified
from hw_agents.errors import BoardError, BoardPermissionError

JOURNAL_VERSION = 1
# cpufreq's show_scaling_setspeed() prints this when the governor has no setspeed.
_KERNEL_COMPUTED_TEXT = (b"<unsupported>",)
# A min/max pair restored in the wrong order is refused once (min > max); a second pass succeeds.
_RESTORE_PASSES = 2


@dataclass(frozen=True)
class _Entry:
    path: Path
    original: bytes
    computed: bool


def default_journal_path(sysfs_root: str | Path) -> Path:
    """Where a session journals by default.

    A fake tree's journal lies beside it (``ROOT.dynscale-journal.json``); the real root's in
    ``$XDG_RUNTIME_DIR`` or, without one, the temporary directory, named after the user id.
    """
    root = Path(sysfs_root).resolve()
    if root != Path("/"):
        return root.with_name(root.name + ".dynscale-journal.json")
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(runtime_dir) / f"dynscale-board-journal-{os.geteuid()}.json"


class Restorer:
    """Saves, journals and restores the files one session writes.

    Args:
        journal_path: the journal file; refused if it already exists (an unrestored run).
        board: board name, recorded in the journal.
        sysfs_root: the tree's root, recorded in the journal.
    """

    def __init__(self, journal_path: Path, board: str, sysfs_root: Path) -> None:
        self.journal_path = journal_path
        self._header = {"version": JOURNAL_VERSION, "pid": os.getpid(), "board": board,
                        "sysfs_root": str(sysfs_root)}
        self._entries: list[_Entry] = []
        self._saved: set[Path] = set()
        self._lock = threading.RLock()
        self._previous_handlers: dict[int, object] = {}
        self._lock_fd: int | None = lock_board(journal_path)
        if journal_path.exists():
            self.close()
            raise BoardError(
                "journal of an unrestored run exists (its process is gone); undo it with "
                f"`dynscale board restore --journal {journal_path}`", path=journal_path)

    def close(self) -> None:
        """Let the next run have the board (once restored; the process's end does it too)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the last descriptor releases the flock
            self._lock_fd = None

    def write(self, path: Path, value: str) -> None:
        """Save ``path``'s original bytes (once, journalled first), then write ``value`` verified."""
        with self._lock:
            if path not in self._saved:
                if not can_read(path):
                    raise BoardPermissionError("not permitted: cannot read it to restore it later", path=path)
                original = path.read_bytes()
                computed = original.strip() in _KERNEL_COMPUTED_TEXT
                self._entries.append(_Entry(path, original, computed))
                self._saved.add(path)
                self._write_journal()
            write_verified(path, value)

    def restore(self) -> list[tuple[Path, str]]:
        """Put back every saved file in reverse order; the journal goes once all succeeded.

        Returns:
            (path, why) of each file that could not be restored (empty when all were).
        """
        with self._lock:
            failures = restore_entries(self._entries)
            if not failures:
                self._entries.clear()
                self._saved.clear()
                self.journal_path.unlink(missing_ok=True)
            return failures

    def install_handlers(self) -> None:
        """Restore on interpreter exit, SIGINT and SIGTERM (main thread only; others keep atexit)."""
        atexit.register(self.restore)
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous_handlers[signum] = signal.getsignal(signum)
            signal.signal(signum, self._on_signal)

    def uninstall_handlers(self) -> None:
        """Give the signals back to the handlers that were there before."""
        atexit.unregister(self.restore)
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        self._previous_handlers.clear()

    def _on_signal(self, signum: int, frame: object) -> None:
        failures = self.restore()
        if failures:
            # The process may be about to die of the signal: say now what is left and how to undo it.
            print(f"{failures[0][0]}: not restored ({failures[0][1]}); {len(failures)} files left; run "
                  f"`dynscale board restore --journal {self.journal_path}`", file=sys.stderr)
        previous = self._previous_handlers.get(signum, signal.SIG_DFL)
        self.uninstall_handlers()
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:
            # Die of the signal as the process would have without us (exit status 128 + signum).
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    def _write_journal(self) -> None:
        payload = dict(self._header)
        payload["entries"] = [
            {"path": str(e.path.resolve()), "original_hex": e.original.hex(), "computed": e.computed}
            for e in self._entries
        ]
        _write_atomic(self.journal_path, json.dumps(payload, indent=1))


def lock_board(journal_path: Path) -> int:
    """Take the board of ``journal_path`` for this process (a descriptor holding ``flock`` on
    ``<journal>.lock``, with this process's pid and command written in); BoardError naming the run
    that holds it."""
    lock_path = journal_path.with_name(journal_path.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 4096).decode("utf-8", "replace").strip() or "another process"
        os.close(fd)
        raise BoardError(f"the board is in use by a running dynscale ({holder}); wait for it to end",
                         path=lock_path) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()}: {_command()}\n".encode(), 0)
    return fd


def _command() -> str:
    """This process's command line, as ps shows it (one line)."""
    with contextlib.suppress(OSError):
        return Path("/proc/self/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    return " ".join(sys.argv)


def restore_entries(entries: list[_Entry]) -> list[tuple[Path, str]]:
    """Write back original bytes in reverse order; retry refused files once (see the constants)."""
    pending = list(reversed(entries))
    failures: list[tuple[Path, str]] = []
    for _ in range(_RESTORE_PASSES):
        failures, retry = [], []
        for entry in pending:
            try:
                write_bytes(entry.path, entry.original)
            except OSError as err:
                if not entry.computed:
                    failures.append((entry.path, err.strerror or str(err)))
                    retry.append(entry)
        pending = retry
        if not pending:
            break
    return failures


def restore_journal(journal_path: str | Path) -> tuple[int, list[tuple[Path, str]]]:
    """Undo the run that wrote ``journal_path`` (e.g. one killed by SIGKILL); remove the journal.

    Returns:
        The number of files in the journal, and (path, why) of each that could not be restored
        (the journal stays if any).

    Raises:
        BoardError: the journal is absent or malformed.
    """
    path = Path(journal_path)
    if not path.exists():  # checked before locking, so that a wrong path leaves no lock file behind
        raise BoardError("no journal here: nothing to restore", path=path)
    lock_fd = lock_board(path)  # a live run's journal is its own to restore, never ours
    try:
        return _restore_journal(path)
    finally:
        os.close(lock_fd)


def _restore_journal(path: Path) -> tuple[int, list[tuple[Path, str]]]:
    if not path.exists():  # its run restored it and removed it in the meantime
        raise BoardError("no journal here: nothing to restore", path=path)
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        if payload.get("version") != JOURNAL_VERSION:
            raise BoardError(f"journal version {payload.get('version')!r}, expected {JOURNAL_VERSION}",
                             path=path, field="version")
        entries = [_Entry(Path(e["path"]), bytes.fromhex(e["original_hex"]), bool(e["computed"]))
                   for e in payload["entries"]]
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise BoardError(f"malformed journal: {err}", path=path) from None
    failures = restore_entries(entries)
    if not failures:
        path.unlink()
    return len(entries), failures


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temp_name, path)
