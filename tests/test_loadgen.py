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


def _cpu_time_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


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
    # 0.5 busy cores for the first second, then none: the burner's CPU time (utime + stime from
    # /proc) grows at about half a core, then stops growing.
    trace = _trace([0.5, 0.0], [0.0, 1.2], duration_s=30.0)
    with LoadReplayer(trace, {"cpu": [CPU]}) as replay:
        pid = replay.burner_pids[CPU]
        time.sleep(0.2)
        cpu_before, wall_before = _cpu_time_s(pid), time.monotonic()
        time.sleep(0.9)
        busy_share = (_cpu_time_s(pid) - cpu_before) / (time.monotonic() - wall_before)
        time.sleep(0.5)  # now in the idle segment
        idle_before, wall_before = _cpu_time_s(pid), time.monotonic()
        time.sleep(0.5)
        idle_share = (_cpu_time_s(pid) - idle_before) / (time.monotonic() - wall_before)
    # Loose bounds: the machine is shared, and /proc counts whole clock ticks.
    assert 0.25 <= busy_share <= 0.75
    assert idle_share <= 0.1
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
