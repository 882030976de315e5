"""The scheduler tick's split window: where in the tick a held core splits a frame, measured from
live frames' arrival phases, priced per configuration, and a live run's phase replayed in the
simulator."""

from pathlib import Path

import numpy as np
import pytest

from envs import EnvError
from platform_models import Contention, PlatformError, load_platform
from platform_models.contention import fit_held_core, split_share_of, split_window_end
from tests.support import fair_tiny, held_latencies

REPO = Path(__file__).resolve().parents[1]
WINDOW = "scheduler_tick_ms: 4.0\ncontention_split_window_end_ms: 3.0\n"
"""A 4 ms tick whose split window ends 3 ms past a tick: a tick within a frame's first 1 ms does not
split it, one after does."""


def _platform(tmp_path, extra: str = WINDOW):
    return fair_tiny(tmp_path, "contention_stretch: 3.0\ncontention_allowance_ms: 100.0\n"
                     f"contention_split_share: {{20: 0.1, 50: 0.5}}\n{extra}")


@pytest.mark.parametrize(("end_ms", "latency_ms"), [(3.4, 1.8), (0.5, 4.7)])  # the second wraps
def test_the_split_window_is_found_where_the_split_frames_phases_end(end_ms, latency_ms):
    """Frames of ``latency_ms`` that a tick splits when it falls past their first ``4 - end_ms`` ms:
    those arriving in the 1.2 ms before ``end_ms``."""
    rng = np.random.default_rng(0)
    phases_ms = rng.uniform(0.0, 4.0, 600) + 4.0 * rng.integers(0, 10_000, 600)  # arrivals, not phases
    split = (end_ms - phases_ms) % 4.0 < 1.2
    wrong = np.r_[np.flatnonzero(split)[:6], np.flatnonzero(~split)[:6]]
    split[wrong] = ~split[wrong]  # a few frames the window cannot tell (2 %)
    found_ms, told = split_window_end(phases_ms, split, 4.0, latency_ms)
    assert found_ms == pytest.approx(end_ms, abs=0.05)
    assert told == pytest.approx(0.98, abs=0.005)
    # phases that do not tell (a tick not following the clock): no window tells what "none split" does not
    _, told = split_window_end(phases_ms, rng.random(600) < 0.3, 4.0, latency_ms)
    assert told < 0.8


def test_a_frame_splits_at_the_share_of_phases_whose_tick_falls_past_the_grace_before_it_is_done():
    latency_ms = np.array([0.5, 1.0, 3.0, 5.0, 9.0])
    assert split_share_of(latency_ms, 1.0, 4.0) == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.0])
    assert split_share_of(latency_ms, 1.0, 4.0, np.array([1, 1, 1, 1, 0])) == pytest.approx([0, 0, 0.5, 1, 0])


def test_with_the_window_known_each_configuration_splits_by_its_own_length_at_any_period(tmp_path):
    platform = _platform(tmp_path)
    assert platform.contention_split_window_end_ms == 3.0
    configs = platform.configs()
    held = np.array([0.0, 2.0, 0.0])  # both big cores held
    shares = [Contention(platform, period_ms).config_metrics(held).outcomes.split_share
              for period_ms in (None, 20, 50)]
    assert np.array_equal(shares[0], shares[1]) and np.array_equal(shares[0], shares[2])
    big = [i for i, c in enumerate(configs) if c.pe == "big"]
    alone_ms = np.array([platform.latency_ms("big", configs[i].freq_mhz, 1, configs[i].groups) for i in big])
    assert shares[0][big] == pytest.approx(np.clip((alone_ms - 1.0) / 4.0, 0.0, 1.0))
    assert len(set(shares[0][big].round(6))) > 2  # longer frames split more often
    other = [i for i, c in enumerate(configs) if c.pe != "big"]
    assert not shares[0][other].any()  # nothing holds them
    # half held: half the share, as for the share per period
    half = Contention(platform).config_metrics(np.array([0.0, 1.5, 0.0])).outcomes.split_share
    assert half[big] == pytest.approx(0.5 * shares[0][big])
    # a grace measured against the table (whose latencies the live frames need not run at) replaces
    # the tick less the window's end
    graced = _platform(tmp_path / "graced", WINDOW + "contention_split_grace_ms: 2.0\n")
    share = Contention(graced).config_metrics(held).outcomes.split_share
    assert share[big] == pytest.approx(np.clip((alone_ms - 2.0) / 4.0, 0.0, 1.0))


def test_the_held_core_fit_takes_a_share_per_point():
    t = np.array([1.0, 2.0, 3.0, 4.0])
    q = np.array([0.0, 0.25, 0.5, 0.75])
    held = (1.0 - q) * (np.minimum(t, 2.0) + 3.0 * np.maximum(t - 2.0, 0.0)) + q * 3.0 * t
    assert fit_held_core(t, held, split_share=q) == pytest.approx((2.0, 3.0), abs=0.011)
    with pytest.raises(ValueError, match="split shares"):
        fit_held_core(t, held, split_share=[0.0, 0.5, 1.5, 0.0])


END = "contention_split_window_end_ms"
GRACE = "contention_split_grace_ms"


@pytest.mark.parametrize(("extra", "message", "key"), [
    (f"{END}: 3.0\n", "needs scheduler_tick_ms", END),
    (f"scheduler_tick_ms: 4.0\n{END}: 4.5\n", END, END),
    (f"scheduler_tick_ms: 4.0\n{END}: -1\n", END, END),
    (f"{WINDOW}{GRACE}: -0.5\n", GRACE, GRACE),
    (f"scheduler_tick_ms: 4.0\n{GRACE}: 1.0\n", f"needs {END}", GRACE),
])
def test_a_bad_split_window_is_refused_at_its_line(tmp_path, extra, message, key):
    with pytest.raises(PlatformError, match=message) as refused:
        _platform(tmp_path, extra)
    lines = (tmp_path / "tiny.yaml").read_text().splitlines()
    line = next(i for i, text in enumerate(lines) if text.startswith(key)) + 1
    assert str(refused.value).startswith(f"{tmp_path / 'tiny.yaml'}:{line}: ")


def test_a_live_runs_phase_replayed_splits_the_frames_that_arrive_in_the_window(tmp_path):
    platform = _platform(tmp_path)
    alone_ms = platform.latency_ms("big", 2000, 1, 1)  # 3 ms: split where the phase is in (1, 3]
    assert split_share_of(np.array([alone_ms]), 1.0, 4.0) == pytest.approx([0.5])
    for noise in (True, False):  # a phase given is no draw: the noise-free run follows it too
        inside = held_latencies(platform, 20.0, noise, 0, 40, phase_ms=2.0) > 2.0 * alone_ms
        outside = held_latencies(platform, 20.0, noise, 0, 40, phase_ms=3.5) > 2.0 * alone_ms
        assert inside.all() and not outside.any()  # every 20 ms: five ticks, the same phase every frame
    # half a tick more per frame: the phase alternates, in and out
    alternating = held_latencies(platform, 22.0, True, 0, 40, phase_ms=2.0) > 2.0 * alone_ms
    assert alternating[::2].all() and not alternating[1::2].any()
    # drawn, the episodes land in the window about half the time (its share of the tick)
    drawn = [(held_latencies(platform, 20.0, True, seed, 40) > 2.0 * alone_ms).all() for seed in range(30)]
    assert 0.25 < np.mean(drawn) < 0.75


def test_a_phase_that_cannot_be_replayed_is_refused(tmp_path):
    with pytest.raises(EnvError, match="tick_phase_ms"):
        held_latencies(_platform(tmp_path), 20.0, True, 0, 1, phase_ms=4.0)  # past the tick
    with pytest.raises(EnvError, match="tick_phase_ms"):
        held_latencies(_platform(tmp_path), 20.0, True, 0, 1, phase_ms="2")
    with pytest.raises(EnvError, match="contention_split_window_end_ms"):
        no_window = _platform(tmp_path, "scheduler_tick_ms: 4.0\n")  # nothing to replay a phase against
        held_latencies(no_window, 20.0, True, 0, 1, phase_ms=2.0)


def test_each_recorded_runs_phase_replayed_tells_which_of_its_held_frames_split():
    """Two live runs of `static:1:cpu` on the concurrent-dnn eval trace (20 ms frames: five ticks, so
    a run's held frames all arrive at one phase), two minutes apart on the EPYC VM with the table
    calibrated just before (tests/data/host-epyc-tick*): 0.98 of one run's held frames split, 0.10 of
    the other's. The simulator at each run's phase tells most of both runs' held frames right (a
    drawn phase splits an episode's held frames all or none, so no one episode could)."""
    import csv

    import gymnasium

    import envs  # noqa: F401  (registers the env id)
    from controllers import make_controller
    from traces import load_trace

    data = REPO / "tests" / "data"
    platform = load_platform(data / "host-epyc-tick.yaml")
    trace = load_trace(REPO / "traces" / "data" / "host" / "concurrent-dnn-eval-s121.csv")
    with (data / "host-epyc-tick-frames.csv").open() as f:
        rows = [r for r in csv.DictReader(line for line in f if not line.startswith("#"))]
    alone_ms = platform.latency_ms("cpu", 2000, 1, 1)

    def split_of(phase_ms: float, n_frames: int) -> np.ndarray:
        env = gymnasium.make("dynscale/DynamicDNN-v0", platform=platform, trace=trace,
                             max_frames=n_frames, latency_noise=False)
        controller = make_controller("static:1:cpu", platform, env)
        obs, info = env.reset(seed=0, options={"tick_phase_ms": phase_ms})
        out = []
        for _ in range(n_frames):
            obs, _, _, _, info = env.step(controller.act(obs, info))
            out.append(info["latency_ms"] - info["agent_ms"] - info["queue_ms"] > 1.5 * alone_ms)
        return np.array(out)

    told, splits = [], []
    for run in ("1", "2"):
        live = [r for r in rows if r["pass"] == run]
        held = np.array([trace.load_at(float(r["time_s"]))["cpu"] > 1.9 for r in live])
        live_split = np.array([float(r["infer_ms"]) > 1.5 * alone_ms for r in live])
        phase_ms = float(live[0]["arrival_s"]) * 1000.0 % platform.scheduler_tick_ms
        replayed = split_of(phase_ms, len(live))
        told.append(np.mean(replayed[held] == live_split[held]))
        splits.append(live_split[held].mean())
    assert splits[0] > 0.9 and splits[1] < 0.2  # the same controller and trace, opposite outcomes live
    assert min(told) > 0.85, told
