"""Live load replay: a trace's competing load played for real by CPU-burning processes.

A trace says, per segment, how many cores of each CPU PE competing work keeps busy (``2.5`` = two
cores fully busy and a third at 50 % duty). :class:`LoadReplayer` starts one burner process per core
of every CPU PE, pinned to that core with ``os.sched_setaffinity``, and tells each its duty cycle
whenever the trace enters a new segment: ``floor(load)`` cores at 100 %, the next core at the
fractional part, the rest idle. A burner spins until it has used ``duty x period`` of CPU time in a
period of ``period_ms`` (10 ms by default, the kernel's scheduling granularity), then sleeps to the
period's end, so its busy share is its duty cycle whether or not the DNN competes with it.

No burner outlives the process that started it, however that process ends:

* on Linux each burner asks the kernel (``prctl(PR_SET_PDEATHSIG, SIGKILL)``) to kill it when its
  parent dies — even by SIGKILL, where no Python cleanup runs;
* each burner reads its duty from a pipe: end of file (the parent is gone) makes it exit;
* each burner checks its parent pid every period and exits when it changed (re-parented);
* leaving the context manager (normally, on an exception or on a signal turned into one) kills and
  reaps every burner.

Priority: by default burners run at the DNN's priority, so where a burner and the DNN share a core
the Linux scheduler splits it fairly and the competing work gets less than the trace says.
``nice=-10`` (needs root or CAP_SYS_NICE) gives the burners about 90 % of a shared core, so the
replayed load is the trace's whatever the DNN does - the simulator's assumption ("the trace fixes
the competing applications' busy cores").

GPU loads are not replayed (no portable way to keep a GPU busy a given share of time); the PEs
skipped are listed in :attr:`LoadReplayer.skipped_pes`.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from hw_agents.errors import BoardError, BoardPermissionError

__all__ = ["LoadReplayer", "duty_cycles"]

DEFAULT_PERIOD_MS = 10.0

# The burner: a stand-alone script run by ``python -I -c`` so that it starts in tens of ms without
# importing this package (or torch). argv: parent pid, cpu id, period ms.
# PR_SET_PDEATHSIG = 1 (linux/prctl.h). The death signal fires when the *thread* that forked the
# child exits, so burners are started from the thread that enters the context manager.
_BURNER = r"""
import os, signal, sys, threading, time
signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C at the terminal is the parent's to handle
parent, cpu, period_s = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]) / 1000.0
if sys.platform.startswith("linux"):
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)
if os.getppid() != parent:
    os._exit(0)
os.sched_setaffinity(0, {cpu})
duty = [0.0]
def read_duties():
    for line in sys.stdin:
        duty[0] = min(max(float(line), 0.0), 1.0)
    os._exit(0)
threading.Thread(target=read_duties, daemon=True).start()
clock, cpu_clock = time.monotonic, time.thread_time
while True:
    start, cpu_start = clock(), cpu_clock()
    end = start + period_s
    busy_s = duty[0] * period_s
    while cpu_clock() - cpu_start < busy_s and clock() < end:
        # thread_time is a system call: reading it in every pass made the burner ~45 % kernel time;
        # ~2,000 passes of user-space work (tens of us) between readings keep it a compute load
        for _ in range(2000):
            pass
    left = end - clock()
    if left > 0:
        time.sleep(left)
    if os.getppid() != parent:
        os._exit(0)
"""


def duty_cycles(load_cores: float, cpus: Iterable[int]) -> dict[int, float]:
    """Duty cycle per CPU id that keeps ``load_cores`` busy cores on ``cpus``: whole cores first,
    the fraction on the next one (2.5 on four cores -> 1.0, 1.0, 0.5, 0.0)."""
    cpus = list(cpus)
    load = min(max(float(load_cores), 0.0), float(len(cpus)))
    full = math.floor(load)
    return {cpu: 1.0 if i < full else (load - full if i == full else 0.0) for i, cpu in enumerate(cpus)}


class LoadReplayer:
    """Context manager replaying ``trace``'s competing load on the CPU PEs of ``board_pes``.

    ``board_pes``: the board's PEs (objects with ``name``, ``kind``, ``cpus``, as ``Board.pes``) or a
    mapping PE name -> CPU ids. Trace time 0 is ``lead_in_s`` after the moment the context is
    entered (:attr:`start_monotonic`); during the lead-in the first segment's load already runs. With
    ``loop=True`` the trace starts over after ``duration_s``.
    """

    def __init__(
        self,
        trace: Any,
        board_pes: Iterable[Any] | Mapping[str, Iterable[int]],
        *,
        period_ms: float = DEFAULT_PERIOD_MS,
        loop: bool = True,
        lead_in_s: float = 0.0,
        nice: int = 0,
    ) -> None:
        if isinstance(board_pes, Mapping):
            cpus_by_pe = {name: tuple(cpus) for name, cpus in board_pes.items()}
            other_pes: set[str] = set()
        else:
            pes = list(board_pes)
            cpus_by_pe = {pe.name: tuple(pe.cpus) for pe in pes if pe.kind == "cpu"}
            other_pes = {pe.name for pe in pes if pe.kind != "cpu"}
        unknown = [name for name in trace.pe_names if name not in cpus_by_pe and name not in other_pes]
        if unknown:
            raise BoardError(f"{trace.path}: field 'load_{unknown[0]}': the board has no PE '{unknown[0]}'")
        self.trace = trace
        self.period_ms = float(period_ms)
        self.loop = loop
        self.lead_in_s = float(lead_in_s)
        self.nice = int(nice)
        self.cpus_by_pe = {name: cpus for name, cpus in cpus_by_pe.items() if name in trace.pe_names}
        self.skipped_pes = tuple(name for name in trace.pe_names if name not in self.cpus_by_pe)
        self.start_monotonic = math.nan
        self._burners: dict[int, subprocess.Popen[bytes]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- context manager -------------------------------------------------------------------------

    def __enter__(self) -> LoadReplayer:
        try:
            for cpus in self.cpus_by_pe.values():
                for cpu in cpus:
                    self._start_burner(cpu)
            self.start_monotonic = time.monotonic()
            self._apply(self.trace_time_s())
            self._thread = threading.Thread(target=self._follow_trace, name="load-replay", daemon=True)
            self._thread.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop every burner and wait for it (idempotent)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=1.0)
        for proc in self._burners.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
        for proc in self._burners.values():
            proc.wait()
            if proc.stdin is not None:
                proc.stdin.close()
        self._burners.clear()

    # -- what the live agent reads -----------------------------------------------------------------

    @property
    def burner_pids(self) -> dict[int, int]:
        """CPU id -> pid of the burner pinned to it."""
        return {cpu: proc.pid for cpu, proc in self._burners.items()}

    def trace_time_s(self) -> float:
        """Seconds into the trace now (wrapped around when looping; 0 during the lead-in)."""
        elapsed = max(time.monotonic() - self.start_monotonic - self.lead_in_s, 0.0)
        if self.loop and self.trace.duration_s > 0:
            return elapsed % self.trace.duration_s
        return min(elapsed, self.trace.duration_s)

    # -- internals -------------------------------------------------------------------------------

    def _start_burner(self, cpu: int) -> None:
        if cpu not in os.sched_getaffinity(0):
            raise BoardError(f"cpu{cpu}: not in this process's CPU set {sorted(os.sched_getaffinity(0))}")
        proc = subprocess.Popen(
            [sys.executable, "-I", "-c", _BURNER, str(os.getpid()), str(cpu), str(self.period_ms)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            close_fds=True,
        )
        self._burners[cpu] = proc  # registered first, so that close() reaps it if the next line fails
        if self.nice:
            try:
                os.setpriority(os.PRIO_PROCESS, proc.pid, self.nice)
            except PermissionError:
                raise BoardPermissionError(
                    f"burner nice {self.nice}: not permitted (a negative nice needs root or CAP_SYS_NICE)",
                    field="nice") from None

    def _apply(self, trace_time_s: float) -> None:
        load = self.trace.load_at(trace_time_s)
        for name, cpus in self.cpus_by_pe.items():
            for cpu, duty in duty_cycles(load[name], cpus).items():
                proc = self._burners[cpu]
                try:
                    assert proc.stdin is not None
                    proc.stdin.write(f"{duty:.4f}\n".encode())
                    proc.stdin.flush()
                except (BrokenPipeError, ValueError):
                    pass  # burner already killed by close(); nothing left to tell it

    def _follow_trace(self) -> None:
        while not self._stop.is_set():
            now_s = self.trace_time_s()
            next_s = self.trace.next_change_s(now_s)
            wrap_s = self.trace.duration_s if self.loop else math.inf
            wait_s = min(next_s, wrap_s) - now_s
            if not math.isfinite(wait_s):
                return
            if self._stop.wait(max(wait_s, 0.0) + 1e-4):
                return
            self._apply(self.trace_time_s())

