"""The reaper: stops every process an embedded Ray session started once the driver is gone.

Ray binds the head's processes to the driver, but when the driver is killed (SIGKILL, the OOM killer)
Ray 2.60's dashboard and runtime-env agents outlive it: they wait for a GCS that died with it (seen
on this project's 2-vCPU VM: both still alive a minute later). The reaper is started by the driver
in a session of its own, holding the read end of a pipe; when the pipe closes (the driver ended,
however) it stops every process whose environment carries the session's marker, which every Ray
process inherits from the driver: SIGTERM, then SIGKILL after ``GRACE_S``. The marker is read from
/proc/PID/environ, which a process title set with setproctitle overwrites unless ``SPT_NOENV`` is set:
the driver sets it (``_cluster``), or the agents, titled ``ray::DashboardAgent``, go unseen.

Run as ``python -m controllers._reaper MARKER`` (``MARKER`` is ``NAME=VALUE``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path

GRACE_S = 3.0


def marked_pids(marker: str) -> list[int]:
    """Processes of this user whose environment holds ``marker`` (``NAME=VALUE``), this one excepted."""
    needle = marker.encode() + b"\0"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone meanwhile, or another user's
            continue
        if needle in environ or environ.startswith(needle):
            found.append(int(entry.name))
    return found


def reap(marker: str, deadline_s: float = 30.0) -> int:
    """SIGTERM the marked processes, then SIGKILL every marked one until none is left (a Ray process
    dying meanwhile may have started another) or ``deadline_s`` has passed; how many there were."""
    pids = marked_pids(marker)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    end = time.monotonic() + GRACE_S
    while time.monotonic() < end and marked_pids(marker):
        time.sleep(0.1)
    end = time.monotonic() + deadline_s
    while (left := marked_pids(marker)) and time.monotonic() < end:
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
    return len(pids)


def main() -> None:
    marker = sys.argv[1]
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the driver; the pipe says when to act
    sys.stdin.buffer.read()  # returns at EOF: the driver closed the pipe or died
    reap(marker)


if __name__ == "__main__":
    main()
