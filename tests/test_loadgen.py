"""Live load replay: burners at the trace's duty cycle, and never an orphan burner."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hw_agents.loadgen import LoadReplayer, duty_cycles
from traces import Trace

REPO = Path(__file__).resolve().parents[1]
CPU = min(os.sched_getaffinity(0))


def _trace(load: list[float], time_s: list[float], duration_s: float) -> Trace:
    return Trace(platform="host", kind="steady", split="eval", frame_period_ms=100, duration_s=duration_s,
                 time_s=time_s, load={"cpu": load})


def _schedstat_s(pid: int) -> tuple[float, float]:
    """Seconds process ``pid``'s main thread (a burner's spinning loop) has run on a CPU, and has waited
    runnable on a run queue while others ran: /proc/PID/schedstat's first two fields (ns)."""
    on_cpu_ns, waiting_ns, _ = Path(f"/proc/{pid}/schedstat").read_text().split()
    return int(on_cpu_ns) / 1e9, int(waiting_ns) / 1e9


def _window(replay: LoadReplayer, pid: int, from_s: float, to_s: float) -> tuple[float, float, float]:
    """(CPU time, run-queue wait, wall time) of process ``pid`` between trace times ``from_s`` and
    ``to_s`` of ``replay``, in s."""
    time.sleep(max(from_s - replay.trace_time_s(), 0.0))
    cpu_before_s, wait_before_s = _schedstat_s(pid)
    wall_before_s = time.monotonic()
    time.sleep(max(to_s - replay.trace_time_s(), 0.0))
    cpu_s, wait_s = _schedstat_s(pid)
    return cpu_s - cpu_before_s, wait_s - wait_before_s, time.monotonic() - wall_before_s


def _assert_duty(duty: float, cpu_s: float, wait_s: float, wall_s: float) -> None:
    """A burner at ``duty`` had, over a window, between ``duty`` x the time others left it and ``duty``
    x the wall time (see the test), give or take 5 % of the wall time: a period cut at each end of the
    window, the timer's slack after each sleep (50 us a period), the spin's last pass of 2,000 loops
    past its share, a duty-0 burner's waking every period (tens of us each)."""
    slack_s = 0.05 * wall_s
    assert duty * (wall_s - wait_s) - slack_s <= cpu_s <= duty * wall_s + slack_s, (cpu_s, wait_s, wall_s)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def test_duty_cycles_fill_whole_cores_first() -> None:
    assert duty_cycles(2.5, [4, 5, 6, 7]) == {4: 1.0, 5: 1.0, 6: 0.5, 7: 0.0}
    assert duty_cycles(9.0, [0, 1]) == {0: 1.0, 1: 1.0}
    assert duty_cycles(0.0, [0, 1]) == {0: 0.0, 1: 0.0}


def test_burner_busy_share_follows_the_trace_duty_cycle() -> None:
    # 0.5 busy cores for 1.5 s, then none. In each period P a burner at duty d spins until it has had
    # d P of CPU time, then sleeps to the period's end; where others keep it waiting on its core's run
    # queue for w of the period, it gets what is left, P - w, if that is less. Its CPU time in a
    # period, min(d P, P - w), lies between d (P - w) and d P; summed over a window, with the wait read
    # from /proc, d (wall - wait) <= CPU <= d wall on a busy machine as on an idle one (there wait ~ 0
    # and both bounds are d wall). Tried with the burner broken, 0 to 6 spinners on its core: burning a
    # whole core, or 0.5 into the idle segment, fails the idle window (at any load leaving it 5 % of the
    # core); never burning fails the busy one (it never waits: its lower bound stays 0.5 wall); a whole
    # core only where asked for 0.5 fails only on a quiet core (on a loaded one the two burn alike).
    trace = _trace([0.5, 0.0], [0.0, 1.5], duration_s=30.0)
    with LoadReplayer(trace, {"cpu": [CPU]}) as replay:
        pid = replay.burner_pids[CPU]
        busy = _window(replay, pid, 0.3, 1.2)  # 0.3 s inside each end of its segment
        idle = _window(replay, pid, 1.8, 2.4)
    _assert_duty(0.5, *busy)
    _assert_duty(0.0, *idle)
    assert not _alive(pid)


_REPLAY_THEN_WAIT = """
import sys, time
from hw_agents.loadgen import LoadReplayer
from traces import Trace
trace = Trace(platform="host", kind="steady", split="eval", frame_period_ms=100, duration_s=60,
              time_s=[0.0], load={"cpu": [0.5]})
with LoadReplayer(trace, {"cpu": [int(sys.argv[1])]}) as replay:
    print(*replay.burner_pids.values(), flush=True)
    time.sleep(60)
"""


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_no_burner_survives_its_parent(sig: signal.Signals) -> None:
    agent = subprocess.Popen([sys.executable, "-c", _REPLAY_THEN_WAIT, str(CPU)], cwd=REPO,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert agent.stdout is not None
        pids = [int(p) for p in agent.stdout.readline().split()]
        assert pids and all(_alive(p) for p in pids)
        agent.send_signal(sig)
        agent.wait(timeout=10)
        deadline = time.monotonic() + 2.0
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(p) for p in pids)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
