"""The contention rule shared by the simulator, the model-based controllers and the live agent."""

import csv
import tempfile
from pathlib import Path

import numpy as np
import pytest

from dynscale.cli import main
from platform_models import Contention, PlatformError, dnn_threads, load_platform
from platform_models.contention import fit_held_core, split_share_at
from tests.support import TINY, held_latencies, load_benchmark
from traces import load_trace

DATA = Path(__file__).parent / "data"
RECORDED = Path(__file__).resolve().parents[1] / "traces" / "data" / "host" / "recorded-mixed-eval.csv"


def _tiny(contention: str | None, tmp_path):
    text = TINY.read_text()
    if contention is not None:
        text += f"contention: {contention}\n"
    path = tmp_path / "tiny.yaml"
    path.write_text(text)
    (tmp_path / "tiny.csv").write_bytes(TINY.with_suffix(".csv").read_bytes())
    return path


def test_priority_leaves_the_dnn_what_the_load_leaves(tmp_path):
    platform = load_platform(_tiny(None, tmp_path))
    assert platform.contention == "priority"
    # PEs little (2 cpus), big (2 cpus), gpu.
    allocation = Contention(platform).allocate([0.5, 2.0, 0.75])
    assert allocation.cores.tolist() == pytest.approx([1.5, 0.05, 1.0])
    assert allocation.stretch.tolist() == pytest.approx([1.0, 1.0, 4.0])
    assert allocation.share.tolist() == pytest.approx([1.5, 0.05, 0.25])


def test_fair_shares_the_least_busy_core_only_when_none_is_free(tmp_path):
    platform = load_platform(_tiny("fair", tmp_path))
    allocation = Contention(platform).allocate(np.array([[0.0, 2.0, 1.0], [1.0, 1.5, 0.5]]))
    # Both cores always busy: the DNN's one thread gets half of one (measured 1.98x on Linux, nice 0);
    # one core busy half the time and no core free: it runs at 1 - 0.5 / 2 of full speed.
    assert allocation.cores.tolist() == [[2.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    np.testing.assert_allclose(allocation.share, [[2.0, 0.5, 0.5], [1.0, 0.75, 0.75]])


def test_every_inference_gets_some_share_however_busy(tmp_path):
    for model in ("priority", "fair"):
        platform = load_platform(_tiny(model, tmp_path))
        busy = np.array([[2.0, 2.0, 1.0]])
        assert (Contention(platform).allocate(busy).share > 0).all()


@pytest.mark.parametrize(
    ("n_cores", "busy", "threads"),
    [(4, 0.0, 4), (4, 1.5, 2), (4, 1.05, 3), (4, 4.0, 1), (2, 0.99, 1), (2, 0.05, 2), (2, 0.11, 1)],
)
def test_the_dnn_runs_one_thread_per_wholly_free_core(n_cores, busy, threads):
    assert dnn_threads(n_cores, busy) == threads


def test_an_unknown_contention_rule_is_refused_with_its_line(tmp_path, capsys):
    path = _tiny("polite", tmp_path)
    assert main(["platform", "validate", str(path)]) == 2
    err = capsys.readouterr()
    assert f"{path}:" in err.out + err.err and "contention" in err.out + err.err


def test_fair_runs_the_fastest_thread_count_the_free_cores_allow(tmp_path):
    """More threads are not always faster (a woken idle thread costs): under ``fair`` the DNN runs
    the thread count, up to one per free core, whose table row is fastest; the live agent reads the
    same ``threads``."""
    path = _tiny("fair", tmp_path)
    table = path.with_suffix(".csv")
    # little at 1500 MHz, k = 1: two threads slower than one (as measured on the 2-vCPU VM)
    table.write_text(table.read_text().replace("little,1500,2,1,7.6667,", "little,1500,2,1,30,"))
    platform = load_platform(path)
    contention = Contention(platform)
    configs = platform.configs()
    for busy in ([0.0, 0.0, 0.0], [0.05, 1.0, 0.5], [1.0, 2.0, 0.0], [1.5, 0.5, 0.9]):
        loaded = contention.config_metrics(np.array(busy))
        allocation = contention.allocate(np.array(busy))
        for i, c in enumerate(configs):
            p = platform.config_pe_index[i]
            free = int(allocation.cores[p])
            options = {t: platform.latency_ms(c.pe, c.freq_mhz, t, c.groups) for t in range(1, free + 1)}
            threads = min(options, key=options.get)
            assert loaded.threads[i] == threads
            assert loaded.metrics.latency_ms[i] == pytest.approx(options[threads] * allocation.stretch[p])
            power_w = platform.power_w(c.pe, c.freq_mhz, threads, c.groups)
            assert loaded.metrics.power_w[i] == pytest.approx(power_w)
    free_board = contention.config_metrics()
    assert free_board.threads[configs.index((1, "little", 1500.0))] == 1
    assert free_board.threads[configs.index((2, "little", 1500.0))] == 2


@pytest.mark.parametrize("rule", ["priority", "fair"])
def test_rows_read_are_the_threads_and_power_config_metrics_gives(tmp_path, rule):
    platform = load_platform(_tiny(rule, tmp_path))
    contention = Contention(platform)
    rng = np.random.default_rng(3)
    loads = rng.uniform(0, 2, (60, 3)) * [1, 1, 0.5]
    loads[::3] = 0.0  # an idle board, asked again and again
    for busy in loads:
        expected = Contention(platform).config_metrics(busy)  # a fresh one: nothing remembered
        threads, power_w = contention.rows_read(busy.tolist())
        assert threads == expected.threads.tolist()
        assert power_w == expected.metrics.power_w.tolist()


def test_a_measured_full_core_stretch_replaces_the_even_split(tmp_path):
    path = _tiny("fair", tmp_path)
    path.write_text(path.read_text() + "contention_stretch: 1.25\n")
    platform = load_platform(path)
    allocation = Contention(platform).allocate(np.array([[0.0, 2.0, 1.0], [1.0, 1.5, 0.5]]))
    # always busy: 1.25; busy half the time: 1 / (1 - 0.5 (1 - 1 / 1.25))
    np.testing.assert_allclose(allocation.stretch, [[1.0, 1.25, 1.25], [1.0, 1 / 0.9, 1 / 0.9]])
    path.write_text(path.read_text().replace("contention_stretch: 1.25", "contention_stretch: 0.5"))
    with pytest.raises(PlatformError, match="contention_stretch"):
        load_platform(path)


def test_a_wake_up_allowance_runs_short_inferences_at_full_speed_and_stretches_the_rest(tmp_path):
    """``held = min(t, A) + s max(t - A, 0)`` on a fair CPU PE; a GPU has no allowance; with none the
    rule is the plain stretch (A = 0), and a free core stretches nothing whatever the allowance."""
    path = _tiny("fair", tmp_path)
    path.write_text(path.read_text() + "contention_stretch: 3.0\ncontention_allowance_ms: 2.0\n")
    platform = load_platform(path)
    (tmp_path / "plain").mkdir()
    plain = load_platform(_tiny("fair", tmp_path / "plain"))
    assert plain.contention_allowance_ms == 0.0
    configs = platform.configs()
    for rule, allowance_ms in ((Contention(platform), 2.0), (Contention(plain), 0.0)):
        for busy in ([0.0, 2.0, 1.0], [1.0, 1.5, 0.5], [0.0, 0.0, 0.0]):
            loaded = rule.config_metrics(np.array(busy))
            for i, c in enumerate(configs):
                p = platform.config_pe_index[i]
                s = loaded.allocation.stretch[p]
                t = platform.latency_ms(c.pe, c.freq_mhz, loaded.threads[i], c.groups)
                head = 0.0 if platform.pes[p].kind == "gpu" else min(t, allowance_ms)
                assert loaded.metrics.latency_ms[i] == pytest.approx(head + s * (t - head))
    path.write_text(path.read_text().replace("contention_allowance_ms: 2.0", "contention_allowance_ms: -1"))
    with pytest.raises(PlatformError, match="contention_allowance_ms"):
        load_platform(path)


@pytest.mark.parametrize(("held", "expected"), [
    ([2.0, 4.0, 6.0, 8.0], (0.0, 2.0)),  # an even split from the first instant: the plain rule
    ([1.0, 2.0, 3.0, 4.0], (0.0, 1.0)),  # a held core that costs nothing
    ([1.0, 2.0, 5.0, 8.0], (2.0, 3.0)),  # two inferences within 2 ms, the rest 3x slower past it
])
def test_the_held_core_fit_recovers_allowance_and_stretch_at_its_limits(held, expected):
    allowance_ms, stretch = fit_held_core([1.0, 2.0, 3.0, 4.0], held)
    assert (allowance_ms, stretch) == pytest.approx(expected, abs=0.011)


def test_the_held_core_fit_recovers_them_with_a_share_of_the_frames_split_from_the_start():
    t = np.array([1.0, 2.0, 3.0, 4.0])
    held = 0.7 * (np.minimum(t, 2.0) + 3.0 * np.maximum(t - 2.0, 0.0)) + 0.3 * 3.0 * t
    assert fit_held_core(t, held, split_share=0.3) == pytest.approx((2.0, 3.0), abs=0.011)
    # the stretch measured on the split frames themselves is kept; the allowance fitted to it
    assert fit_held_core(t, held, split_share=0.3, stretch=3.0) == pytest.approx((2.0, 3.0), abs=0.011)
    allowance_ms, stretch = fit_held_core(t, held, split_share=0.3, stretch=2.5)
    assert stretch == 2.5 and allowance_ms != pytest.approx(2.0, abs=0.011)
    with pytest.raises(ValueError, match="split share"):
        fit_held_core(t, held, split_share=1.5)


def _split_platform(tmp_path, shares: str = "{20: 0.1, 50: 0.5}", extra: str = ""):
    path = _tiny("fair", tmp_path)
    path.write_text(path.read_text() + "contention_stretch: 3.0\ncontention_allowance_ms: 100.0\n"
                    f"contention_split_share: {shares}\n{extra}")
    return load_platform(path)


def test_the_split_share_is_read_at_the_frame_period_between_the_periods_measured(tmp_path):
    platform = _split_platform(tmp_path)
    assert platform.contention_split_share == ((20.0, 0.1), (50.0, 0.5))
    pairs = platform.contention_split_share
    at = [split_share_at(pairs, period_ms) for period_ms in (20.0, 50.0, 10.0, 200.0)]
    assert at == pytest.approx([0.1, 0.5, 0.1, 0.5])  # as measured; held at the nearest beyond
    assert split_share_at(pairs, (20.0 * 50.0) ** 0.5) == pytest.approx(0.3)  # half way in log period
    assert split_share_at(pairs, None) == 0.0 and split_share_at((), 20.0) == 0.0


def test_a_held_core_splits_a_share_of_the_frames_and_the_metrics_are_the_expectation(tmp_path):
    """Ahead for the allowance (here all of it: t) or split from the start (s t), with the period's
    share times the share of the time the core is held; the controllers, without a period, price
    every frame ahead, as before."""
    platform = _split_platform(tmp_path)
    configs = platform.configs()
    without_period = Contention(platform).config_metrics(np.array([0.0, 1.5, 0.0]))
    for busy, held_share in (([0.0, 2.0, 0.0], 1.0), ([0.0, 1.5, 0.0], 0.5), ([0.0, 0.0, 0.0], 0.0)):
        rule = Contention(platform, frame_period_ms=50.0)
        loaded = rule.config_metrics(np.array(busy))
        outcomes = loaded.outcomes
        for i, c in enumerate(configs):
            p = platform.config_pe_index[i]
            s = loaded.allocation.stretch[p]
            t = platform.latency_ms(c.pe, c.freq_mhz, loaded.threads[i], c.groups)
            share = 0.5 * held_share if c.pe == "big" else 0.0
            assert outcomes.ahead.latency_ms[i] == pytest.approx(t)
            assert outcomes.split.latency_ms[i] == pytest.approx(s * t)
            assert outcomes.split_share[i] == pytest.approx(share)
            assert loaded.metrics.latency_ms[i] == pytest.approx((1.0 - share) * t + share * s * t)
            metrics = loaded.metrics
            assert metrics.energy_mj[i] == pytest.approx(metrics.latency_ms[i] * metrics.power_w[i])
    big = [i for i, c in enumerate(configs) if c.pe == "big"]
    assert without_period.metrics.latency_ms[big] == pytest.approx(
        [platform.latency_ms(configs[i].pe, configs[i].freq_mhz, 1, configs[i].groups) for i in big])


@pytest.mark.parametrize("shares", ["{0: 0.5}", "{20: 1.5}", "[0.5]", "{fast: 0.5}"])
def test_a_bad_split_share_is_refused_with_its_field(tmp_path, shares):
    with pytest.raises(PlatformError, match="contention_split_share"):
        _split_platform(tmp_path, shares)


def test_a_bad_split_share_is_refused_at_its_own_line(tmp_path):
    with pytest.raises(PlatformError) as refused:
        _split_platform(tmp_path, "\n  20: 0.1\n  50: 1.5")
    lines = (tmp_path / "tiny.yaml").read_text().splitlines()
    assert str(refused.value).startswith(f"{tmp_path / 'tiny.yaml'}:{lines.index('  50: 1.5') + 1}: ")
    assert "contention_split_share.50" in str(refused.value)


def test_the_simulator_draws_each_held_frame_ahead_or_split_with_the_measured_share(tmp_path):
    platform = _split_platform(tmp_path)

    def latencies(noise: bool, seed: int) -> np.ndarray:
        return held_latencies(platform, 50.0, noise, seed)

    alone_ms = platform.latency_ms("big", 2000, 1, 1)  # 3 ms ahead, 9 ms split (stretch 3)
    drawn = latencies(True, seed=1)
    split = drawn > 2.0 * alone_ms  # the table's 5 % spread never blurs 1x into 3x
    assert 0.42 < split.mean() < 0.58  # the share measured at 50 ms frames, 0.5
    assert np.median(drawn[split]) == pytest.approx(3.0 * alone_ms, rel=0.05)
    assert np.median(drawn[~split]) == pytest.approx(alone_ms, rel=0.05)
    assert np.array_equal(drawn, latencies(True, seed=1))  # the same seed, the same frames
    # noise-free: every frame the expectation
    assert latencies(False, seed=0)[1:] == pytest.approx(0.5 * alone_ms + 0.5 * 3.0 * alone_ms)


def test_with_the_scheduler_tick_known_a_held_frame_splits_by_its_phase_in_the_tick(tmp_path):
    """Live, frames every whole number of ticks all split or none in a run, and frames every half
    tick more alternate (docs/sim-to-real.md): the simulator draws one phase per episode and follows
    each frame's arrival through the tick."""
    platform = _split_platform(tmp_path, "{20: 0.5, 50: 0.5}", "scheduler_tick_ms: 4.0\n")
    assert platform.scheduler_tick_ms == 4.0
    alone_ms = platform.latency_ms("big", 2000, 1, 1)
    whole_ticks = [held_latencies(platform, 20.0, True, seed, n_frames=40) > 2.0 * alone_ms
                   for seed in range(40)]
    assert all(split.all() or not split.any() for split in whole_ticks)  # one phase: the episode's
    assert 0.3 < np.mean([split.all() for split in whole_ticks]) < 0.7  # the phase lands in the split half
    half_ticks = held_latencies(platform, 22.0, True, seed=3, n_frames=40) > 2.0 * alone_ms
    assert np.all(half_ticks[1:] != half_ticks[:-1])  # two phases half a tick apart, one under 0.5
    with pytest.raises(PlatformError, match="scheduler_tick_ms"):
        _split_platform(tmp_path, extra="scheduler_tick_ms: 0\n")


def test_the_kernel_tick_is_read_from_its_build_configuration(tmp_path):
    import gzip

    from hw_agents.agent_timing import kernel_tick_ms

    packed = tmp_path / "config.gz"
    with gzip.open(packed, "wt") as f:
        f.write("CONFIG_NO_HZ=y\nCONFIG_HZ_250=y\nCONFIG_HZ=250\n")
    plain = tmp_path / "config-6.1"
    plain.write_text("# CONFIG_HZ_100 is not set\nCONFIG_HZ=1000\n")
    assert kernel_tick_ms((packed, plain)) == 4.0
    assert kernel_tick_ms((tmp_path / "absent.gz", plain)) == 1.0
    (tmp_path / "none").write_text("CONFIG_NO_HZ=y\n")
    assert kernel_tick_ms((tmp_path / "none",)) is None


def test_the_held_core_fit_refuses_what_it_cannot_fit():
    with pytest.raises(ValueError, match="fit_held_core"):
        fit_held_core([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="fit_held_core"):
        fit_held_core([], [])


def _simulated(platform, spec: str, n_frames: int, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Latency ms and budget met of the recorded trace's first frames: noise-free (``seed`` None) or
    with the noise drawn from ``seed``."""
    import gymnasium

    import envs  # noqa: F401  (registers the env id)
    from controllers import make_controller

    env = gymnasium.make("dynscale/DynamicDNN-v0", platform=platform, trace=str(RECORDED),
                         max_frames=n_frames, latency_noise=seed is not None)
    controller = make_controller(spec, env.unwrapped.platform, env)
    obs, info = env.reset(seed=seed or 0)
    latency_ms, met = [], []
    for _ in range(n_frames):
        obs, _, _, _, info = env.step(controller.act(obs, info))
        latency_ms.append(info["latency_ms"])
        met.append(info["budget_met"])
    return np.array(latency_ms), np.array(met)


@pytest.mark.parametrize("spec", ["static:1:cpu", "static:4:cpu"])
def test_the_allowance_reproduces_recorded_held_core_frames_better_than_one_stretch(tmp_path, spec):
    """Live frames recorded on the 2-vCPU EPYC VM (tests/data/host-epyc-frames.csv) with the table
    calibrated a minute before (host-epyc.yaml: allowance 2.9 ms, stretch 3.58). On the frames whose
    both cores were held, the simulator with the allowance is nearer to them than the same table
    priced by one stretch for every k (the median over k of held / alone, 1.404, no allowance) for
    k = 1 (about as fast as alone) and k = 4 (about twice as slow)."""
    with (DATA / "host-epyc-frames.csv").open() as f:
        rows = [r for r in csv.DictReader(line for line in f if not line.startswith("#"))
                if r["controller"] == spec]
    live_ms = np.array([float(r["latency_ms"]) for r in rows])
    trace = load_trace(RECORDED)
    held = np.array([trace.load_at(float(r["time_s"]))["cpu"] > 1.9 for r in rows])  # both cores busy
    assert held.sum() > 20
    one_stretch = tmp_path / "host.yaml"
    text = (DATA / "host-epyc.yaml").read_text()
    one_stretch.write_text(text.replace("contention_allowance_ms: 2.901", "contention_allowance_ms: 0.0")
                           .replace("contention_stretch: 3.577", "contention_stretch: 1.404"))
    (tmp_path / "host-epyc.csv").write_bytes((DATA / "host-epyc.csv").read_bytes())
    errors = {}
    for name, path in (("allowance", DATA / "host-epyc.yaml"), ("one stretch", one_stretch)):
        platform = load_platform(path)
        sim_ms, _ = _simulated(platform, spec, len(rows))
        errors[name] = float(np.median(np.abs(sim_ms[held] - live_ms[held]) / live_ms[held]))
    assert errors["allowance"] < errors["one stretch"], errors
    assert errors["allowance"] < 0.25, errors


def test_the_split_share_brings_the_simulated_budget_met_rate_to_the_recorded_frames():
    """The same recorded frames (budget 4 ms): live, `static:1:cpu` met 0.845 of them, its held k = 1
    frames split or not (0.38 of them split). Priced ahead every time, the simulator meets them all
    (1.00); with the share of frames split at 50 ms measured on the same VM at a steady held load
    (0.45, 2026-11-30 23:43 UTC), drawn frame by frame over eight seeds, it comes nearer (0.73)."""
    with (DATA / "host-epyc-frames.csv").open() as f:
        rows = [r for r in csv.DictReader(line for line in f if not line.startswith("#"))
                if r["controller"] == "static:1:cpu"]
    live_rate = np.mean([float(r["latency_ms"]) <= 4.0 for r in rows])
    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        split = Path(tmp) / "host.yaml"
        split.write_text((DATA / "host-epyc.yaml").read_text() + "contention_split_share: {50: 0.45}\n")
        (Path(tmp) / "host-epyc.csv").write_bytes((DATA / "host-epyc.csv").read_bytes())
        for name, path in (("ahead", DATA / "host-epyc.yaml"), ("split", split)):
            platform = load_platform(path)
            met = [_simulated(platform, "static:1:cpu", len(rows), seed)[1] for seed in range(8)]
            rates[name] = np.mean(met)
    assert abs(rates["split"] - live_rate) < abs(rates["ahead"] - live_rate), (live_rate, rates)


def test_contention_stretchs_frames_by_tick_phase_are_each_eighths_median():
    module = load_benchmark("contention_stretch")
    tick_ms = 4.0
    # arrivals 21.618 ms apart walk the tick; a frame arriving in the tick's second half takes 4 ms
    log = [{"arrival_s": str(1000.0 + i * 0.021618), "infer_ms": None} for i in range(400)]
    for row in log:
        phase_ms = float(row["arrival_s"]) * 1000.0 % tick_ms
        row["infer_ms"] = str(4.0 if phase_ms >= 2.0 else 2.0)
    assert module.by_tick_phase(log, tick_ms) == [2.0, 2.0, 2.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    assert module.by_tick_phase(log[:1], tick_ms).count(None) == 7  # one frame: one eighth
    # any figure per frame by the same phases (the turns' model of the same frames)
    halves = [float(row["infer_ms"]) / 2.0 for row in log]
    assert module.by_tick_phase(log, tick_ms, halves) == [1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0]
