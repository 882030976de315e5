"""Simulator against reality: a controller and a trace, run live on this machine and in the env.

Live: ``hw_agents.deploy`` on the ``host`` board with the trace's competing load replayed for real
(pinned CPU burners). Simulated: the same controller over the same trace in
``dynscale/DynamicDNN-v0`` on platform ``host`` (the table ``dynscale profile`` measured here), with
latency noise off, so that each simulated latency is the model's expectation (its budget-met rate,
``sim_budget_met_rate``, is the mean over ``NOISY_RUNS`` simulations with the noise drawn: a live run
is one draw of the machine's noise, and a frame on a held core has two outcomes; the noise-free rate
is ``sim_noise_free_budget_met_rate``). Frame ``i`` of one is
compared with frame ``i`` of the other (both start at trace time 0 and frames arrive at the trace's
frame period), on the latency from arrival to result:

    error_i = |sim_i - real_i| / real_i

Printed: median and p90 of the error, both budget-met rates, and, to tell the model's error from the
controller's choices drifting apart, the same error of the platform model alone at the configuration
the live run chose, under the trace's load (``model_*``: the platform's contention rule at the trace's load,
against the measured inference time, queueing left out). ``table_drift`` is this machine now against
its table: the full network on one core timed as the profiler times it, over the table's figure,
just before the live run. ``noise_floor_*`` is the error a perfect
model of the mean would still make: each live frame's latency against the mean latency of the live
frames with the same configuration and outcome in the same trace segment (a noise-free simulator
predicts a mean; live frames scatter around it; on a held core, a frame split from the start and one
ahead of the other work are two outcomes, each with its own mean, as the simulator predicts them).
``live_load_excess`` is the mean of measured minus trace load: the machine's other work, which the
simulator does not know of. ``median_excess_err`` is the median error less the noise floor of the
same run: the part of the error a model of the mean could still remove (on a noisy machine the floor
moves from run to run, the excess much less).
``disagreement`` (per run, and summed over the runs) counts the frames whose budget the live run and
the noise-free simulation at its phase meet differently, by cause: ``config`` (they chose
differently), ``split`` (a held core split the frame on one side only), ``latency`` (the same choice
and outcome, a latency on the other side of the budget); ``sim_met`` where the simulation met it.
``free_latency_ratio`` is the median, over the live frames on cores no other work shares, of their
inference over the model's latency: the machine's speed against its table during the run (1.3 = 30 %
slower), where contention has no part in it.

Policy-level agreement, with at least two controllers (``--agreement`` runs the default four:
``lookup``, ``lookup-adaptive``, ``static:1:cpu`` and ``static:4:cpu`` on the three host eval
traces): per controller, the budget-met rate and the energy per inference live and simulated (means
over its runs), ``max_budget_met_diff`` (the largest |live - simulated| budget-met rate of any run),
``max_controller_budget_met_diff`` (the same of each controller's means over its runs, the rates the
ranking compares), and ``same_ranking`` (the controllers ordered by budget-met rate, ties by less
energy, live and simulated, are in the same order: no two controllers ordered one way live and the other way
simulated; two with exactly the same budget-met rate and energy on one side, listed in
``sim_ties``, have no order there). With ``--passes 2`` or more, ``max_real_budget_met_spread`` is the
largest difference between two live passes of one controller on one trace: how far the machine
itself moves a budget-met rate from run to run, and ``max_budget_met_excess`` how far the simulated
rates of one controller on one trace lie outside the range of its live ones (0 where they overlap):
the part of the budget-met gap that the machine's own spread does not cover. ``--baseline
PLATFORM`` simulates every run on a second platform too (the model before a change), against the
same live frames and noise floor: ``baseline_*``.

    .venv/bin/python benchmarks/sim_vs_real.py [--controller C ...] [--trace T ...] [--passes 1]
        [--duration 30] [--calibrate] [--watch-s SEC] [--agreement] [--baseline PLATFORM] [--json]

With several controllers, traces or passes, one row per run (``pass``, ``utc``), each controller in
turn on each trace, and under ``--json`` the runs plus ``medians``: per controller and table, the
median over the runs of the error figures and budget-met rates. ``--calibrate`` follows each run on
the platform as shipped (``table: shipped``) with the same run on the platform calibrated to this
machine just before it (``table: calibrated``, ``hw_agents.calibrate``, about 40 s; its
``latency_factor``), side by side.

``--watch-s SEC`` watches the calibration for SEC seconds (``hw_agents.calibrate``'s ``watch_s``: the
machine's mean speed over that time, not one moment's). Alone, it calibrates the platform to this
machine once, before all runs, into ``OUT/watched/`` (a temporary folder without ``--out``), and
every run is simulated on that table (``table: watched``, its ``latency_factor``); unless
``--baseline`` says otherwise, the baseline is the same calibration at its first round only
(``hw_agents.calibrate.first_round``, into ``OUT/first-round/``: what a calibration of one moment
writes; its factor ``baseline_latency_factor``), so that the watch and one moment compare on the same
live frames, and under ``--json`` ``watched`` holds the watch's rounds and each round's factor. With
``--calibrate`` it watches each calibration before a run instead (SEC more per run), and the
baseline is only ``--baseline``'s.
"""

from __future__ import annotations

import _entry  # first: a Ctrl-C or SIGTERM while the modules below load waits for _entry.run

import argparse
import csv
import datetime
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

REPO = _entry.HERE.parent
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as `dynscale deploy` does (dynscale/_live.py)

BASELINE_KEYS = ("baseline_median_abs_err", "baseline_median_excess_err", "baseline_sim_budget_met_rate",
                 "baseline_sim_energy_mj", "baseline_sim_latency_ms_mean")
"""``--baseline``: per run, the figures of the same name without the prefix, simulated on that platform."""
DEFAULT_TRACE = REPO / "traces" / "data" / "host" / "recorded-mixed-eval.csv"
NOISY_RUNS = 32
"""Simulations with the latency noise drawn (seeds 0..31) whose mean budget-met rate is the simulated
one: a live run is one draw of the machine's noise, and a held core's frame has two outcomes. Where
the platform knows its scheduler tick one draw is the episode's phase in it, which at a frame period
of whole ticks splits every held frame of the episode or none, so the mean takes many episodes."""
AGREEMENT_CONTROLLERS = ["lookup", "lookup-adaptive", "static:1:cpu", "static:4:cpu"]
AGREEMENT_TRACES = [str(REPO / "traces" / "data" / "host" / name) for name in (
    "recorded-mixed-eval.csv", "ramp-eval-s122.csv", "concurrent-dnn-eval-s121.csv")]


def main(argv: list[str] | None = None) -> int:
    from dynscale._options import Number

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--controller", nargs="+", default=["lookup"], metavar="C",
                        help="controller spec(s), each run on every trace in turn (default lookup)")
    parser.add_argument("--trace", nargs="+", default=[str(DEFAULT_TRACE)], metavar="T",
                        help="host trace(s) (default: recorded eval)")
    parser.add_argument("--passes", type=int, default=1,
                        help="live runs of every trace, one after the other (default %(default)s)")
    parser.add_argument("--duration", type=float, default=30.0, help="live seconds (default %(default)s)")
    parser.add_argument("--platform", default="host", help="platform of this machine (default %(default)s)")
    parser.add_argument("--load-nice", type=int, default=0,
                        help="nice of the load burners (-10: they keep the trace's cores, as the simulator "
                        "assumes; needs root); default %(default)s")
    parser.add_argument("--calibrate", action="store_true",
                        help="after each run on the platform as shipped, calibrate it to this machine now "
                        "(`dynscale profile --calibrate`) and run again on the calibrated platform")
    parser.add_argument("--watch-s", type=Number(float, 0), default=0.0, metavar="SEC",
                        help="calibrate watched for SEC seconds (the machine's mean speed then): alone, once "
                        "before all runs, every run simulated on that table and, unless --baseline, also on "
                        "its first round alone (a calibration of one moment); with --calibrate, each "
                        "calibration before a run (default %(default)s: no watch)")
    parser.add_argument("--agreement", action="store_true",
                        help="the policy-level comparison: controllers "
                        f"{' '.join(AGREEMENT_CONTROLLERS)} on the three host eval traces (unless "
                        "--controller / --trace say otherwise)")
    parser.add_argument("--baseline", metavar="PLATFORM",
                        help="also simulate every run on this platform (a model before a change), against "
                        "the same live frames: its figures side by side, keys prefixed baseline_")
    parser.add_argument("--out", help="folder for the live logs (default: a temporary one)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    given = set(argv if argv is not None else sys.argv[1:])
    if args.agreement and "--controller" not in given:
        args.controller = AGREEMENT_CONTROLLERS
    if args.agreement and "--trace" not in given:
        args.trace = AGREEMENT_TRACES

    from dynscale._output import format_table, print_json
    from platform_models import load_platform
    from platform_models.progress import show_progress
    from traces import load_trace

    platform = load_platform(args.platform)
    args.baseline_platform = load_platform(args.baseline) if args.baseline else None
    traces = [load_trace(path, platform) for path in args.trace]
    progress = show_progress(not args.json)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        own_table = "shipped"
        if args.watch_s and not args.calibrate:  # once, before all runs
            platform = _calibrated(platform, Path(args.out or tmp) / "watched", args.watch_s, progress)
            if args.baseline_platform is None:
                args.baseline_platform = _first_round(platform, Path(args.out or tmp) / "first-round")
            own_table = "watched"
        for k in range(args.passes):
            for path, trace in zip(args.trace, traces, strict=True):
                for spec in args.controller:
                    out = Path(args.out or tmp) / f"pass{k + 1}-{Path(path).stem}-{Path(spec).name}"
                    runs.append({"pass": k + 1, "table": own_table,
                                 **_compare(args, spec, platform, trace, path, out)})
                    if args.calibrate:
                        into = out.with_name(f"{out.name}-platform")
                        calibrated = _calibrated(platform, into, args.watch_s, progress)
                        cal_out = out.with_name(f"{out.name}-calibrated")
                        runs.append({"pass": k + 1, "table": "calibrated",
                                     **_compare(args, spec, calibrated, trace, path, cal_out)})
    result = runs[0] if len(runs) == 1 else {
        "controllers": args.controller, "platform": args.platform, "passes": args.passes, "runs": runs,
        # over every pass of every trace: the figures a single run reports, as their median, per
        # controller and table
        "medians": [{"controller": spec, "table": table, **_medians(chosen)}
                    for spec in args.controller for table in ("shipped", "watched", "calibrated")
                    if (chosen := [r for r in runs if (r["controller"], r["table"]) == (spec, table)])],
        "median_excess_err": float(np.median([r["median_excess_err"] for r in runs])),
        "disagreement": {cause: {side: sum(r["disagreement"][cause][side] for r in runs) for side in sides}
                         for cause, sides in runs[0]["disagreement"].items()},
        **(_agreement(runs, args.controller) if len(args.controller) > 1 else {}),
    }
    if len(args.controller) > 1 and all("drawn_sim_budget_met_rate" in r for r in _own(runs)):
        result.update(_agreement(runs, args.controller, sim="drawn_sim"))
    if args.baseline_platform is not None and len(runs) > 1:
        excess = [r["baseline_median_excess_err"] for r in runs]
        result["baseline_median_excess_err"] = float(np.median(excess))
        if len(args.controller) > 1:
            result.update(_agreement(runs, args.controller, sim="baseline_sim"))
    if own_table == "watched":
        result["watched"] = platform.descriptor["provenance"]["calibration"]["watched"]
    if args.json:
        print_json(result)
    else:
        hidden = ("trace", "controller", "platform", "load_nice", "latency_factor", "baseline_latency_factor",
                  "disagreement", "watched", *BASELINE_KEYS)
        rows = [{"trace": Path(r["trace"]).stem, **{k: v for k, v in r.items() if k not in hidden}}
                for r in runs]
        print(format_table(rows))
        print("frames met on one side only (simulated met / live met): " + ", ".join(
            f"{cause} {c['sim_met']} / {c['real_met']}" for cause, c in result["disagreement"].items()))
        if own_table == "watched":
            watch = result["watched"]
            baseline = args.baseline or "its first round alone"
            print(f"table: calibrated here, watched over {watch['seconds']:g} s ({watch['rounds']} rounds), "
                  f"latency factor {runs[0]['latency_factor']}; baseline_*: {baseline}, latency factor "
                  f"{runs[0]['baseline_latency_factor']}")
    return 0


def _own(runs: list[dict]) -> list[dict]:
    """The runs on the benchmark's own table (the platform as given, or watched with ``--watch-s``),
    not those on a table calibrated just before them (``--calibrate``)."""
    return [r for r in runs if r["table"] != "calibrated"]


def _medians(runs: list[dict]) -> dict[str, float]:
    return {key: float(np.median([r[key] for r in runs])) for key in (
        "median_abs_err", "p90_abs_err", "noise_floor_median_abs_err", "median_excess_err",
        "model_median_abs_err", "real_budget_met_rate", "sim_budget_met_rate")}


def _agreement(runs: list[dict], controllers: list[str], sim: str = "sim") -> dict:
    """The policy-level comparison of the module docstring, over the runs on the benchmark's own
    table (:func:`_own`); ``sim``
    names the simulated side (``baseline_sim``: the ``--baseline`` platform's; ``drawn_sim``: at
    drawn phases), its keys prefixed ``baseline_`` or ``drawn_`` then."""
    own = _own(runs)
    per = {}
    for spec in controllers:
        mine = [r for r in own if r["controller"] == spec]
        per[spec] = {f"{side}_{figure}": float(np.mean([r[f"{side}_{figure}"] for r in mine]))
                     for side in ("real", sim) for figure in ("budget_met_rate", "energy_mj")}

    def key(side: str, c: str) -> tuple[float, float]:
        return -per[c][f"{side}_budget_met_rate"], per[c][f"{side}_energy_mj"]

    def ranking(side: str) -> list[str]:
        return sorted(controllers, key=lambda c: key(side, c))

    # Two controllers with the same budget-met rate and energy on one side (the simulator gives two
    # controllers that choose alike exactly the same figures) have no order there: the list puts
    # them in the order they were given, and neither order can contradict the other side's.
    contradicted = [(a, b) for a in controllers for b in controllers
                    if key("real", a) < key("real", b) and key(sim, b) < key(sim, a)]
    prefix = sim.removesuffix("sim")
    spread = _live_spread(own)
    excess = _budget_met_excess(own, sim)
    return {
        **({"agreement": per, "real_ranking": ranking("real")} if not prefix else {}),
        f"{prefix}sim_ranking": ranking(sim),
        f"{prefix}sim_ties": [[a, b] for i, a in enumerate(controllers) for b in controllers[i + 1:]
                              if key(sim, a) == key(sim, b)],
        f"{prefix}same_ranking": not contradicted,
        f"{prefix}max_budget_met_diff": float(max(abs(r["real_budget_met_rate"] - r[f"{sim}_budget_met_rate"])
                                                  for r in own)),
        f"{prefix}max_controller_budget_met_diff": float(max(
            abs(rates["real_budget_met_rate"] - rates[f"{sim}_budget_met_rate"]) for rates in per.values())),
        **({"max_real_budget_met_spread": spread} if not prefix and spread is not None else {}),
        **({f"{prefix}max_budget_met_excess": excess} if excess is not None else {}),
        **({f"{prefix}agreement": per} if prefix else {}),
    }


def _passes(runs: list[dict], sim: str) -> list[tuple[list[float], list[float]]]:
    """Per controller and trace run more than once: its live budget-met rates over the passes and its
    simulated ones (each pass simulated at its own phase)."""
    rates: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
    for r in runs:
        real, simulated = rates.setdefault((r["controller"], r["trace"]), ([], []))
        real.append(r["real_budget_met_rate"])
        simulated.append(r[f"{sim}_budget_met_rate"])
    return [pair for pair in rates.values() if len(pair[0]) > 1]


def _live_spread(runs: list[dict]) -> float | None:
    """The largest max - min live budget-met rate of one controller on one trace over its passes (None
    with one pass)."""
    spreads = [max(real) - min(real) for real, _ in _passes(runs, "sim")]
    return float(max(spreads)) if spreads else None


def _budget_met_excess(runs: list[dict], sim: str) -> float | None:
    """The largest distance between the live budget-met rates of one controller on one trace over its
    passes and its simulated ones, as ranges: 0 where they overlap. The budget-met rate's
    ``median_excess_err``: what the model misses beyond what the machine moves between two runs of
    the same thing (None with one pass)."""
    gaps = [max(0.0, min(s) - max(real), min(real) - max(s)) for real, s in _passes(runs, sim)]
    return float(max(gaps)) if gaps else None


def _calibrated(platform, out: Path, watch_s: float, progress: bool):
    """``platform`` calibrated to this machine now, as `dynscale profile --calibrate` does (watched for
    ``watch_s`` seconds: ``--watch-s``)."""
    from hw_agents import open_board
    from hw_agents.calibrate import calibrate
    from platform_models import load_platform

    return load_platform(calibrate(open_board("host"), platform, out, watch_s=watch_s, progress=progress))


def _first_round(watched, out: Path):
    """The watched calibration ``watched`` at its first round alone: a calibration of one moment."""
    from hw_agents.calibrate import first_round
    from platform_models import load_platform

    return load_platform(first_round(watched, out))


def _compare(args: argparse.Namespace, spec: str, platform, trace, path: str, out: Path) -> dict:
    """One live run of ``trace`` against the simulator: the figures of the module docstring."""
    from controllers import make_controller
    from hw_agents import deploy, open_board

    duration_s = min(args.duration, trace.duration_s)  # one pass: the simulated episode is one pass
    board = open_board("host")
    drift = _table_drift(board, platform)
    live_summary = deploy(board, make_controller(spec, platform), trace, out,
                          duration_s=duration_s, platform=platform, load_nice=args.load_nice)
    with (out / "deploy-log.csv").open(newline="") as f:
        live = list(csv.DictReader(f))
    phase_ms = _tick_phase_ms(platform, live)
    sim = _simulate(spec, platform, trace, len(live), phase_ms=phase_ms)
    n = min(len(live), len(sim["latency_ms"]))
    real_ms = np.array([float(r["latency_ms"]) for r in live[:n]])
    sim_ms = np.asarray(sim["latency_ms"][:n], dtype=float)
    error = np.abs(sim_ms - real_ms) / real_ms
    model_error = _model_error(platform, trace, live[:n])
    models = _frame_models(platform, trace, live[:n])
    floor = _noise_floor(trace, live[:n], real_ms, models)
    baseline = {}
    if args.baseline_platform is not None:
        other_phase_ms = _tick_phase_ms(args.baseline_platform, live)
        other = _simulate(spec, args.baseline_platform, trace, n, phase_ms=other_phase_ms)
        other_ms = np.asarray(other["latency_ms"][:n], dtype=float)
        other_error = float(np.median(np.abs(other_ms - real_ms) / real_ms))
        baseline = dict(zip(BASELINE_KEYS, (
            other_error, other_error - float(np.median(floor)),
            _noisy_budget_met_rate(spec, args.baseline_platform, trace, n, other_phase_ms),
            float(np.mean(other["energy_mj"][:n])), float(other_ms.mean())), strict=True))
        baseline["baseline_latency_factor"] = _latency_factor(args.baseline_platform)
    drawn = {}
    if phase_ms is not None:  # the same without the live run's phase: the model's spread over phases
        drawn = {"drawn_sim_budget_met_rate": _noisy_budget_met_rate(spec, platform, trace, n),
                 "drawn_sim_energy_mj": float(np.mean(_simulate(spec, platform, trace, n)["energy_mj"][:n]))}
    same_config = np.mean([_config_of(r) == c for r, c in zip(live[:n], sim["config"][:n], strict=True)])
    return {
        "controller": spec,
        "trace": path,
        "platform": args.platform,
        "load_nice": args.load_nice,
        "utc": datetime.datetime.now(datetime.timezone.utc).strftime("%H:%M"),
        "table_drift": drift,
        "latency_factor": _latency_factor(platform),
        "n_frames": n,
        "median_abs_err": float(np.median(error)),
        "p90_abs_err": float(np.percentile(error, 90)),
        "tick_phase_ms": phase_ms,
        "real_budget_met_rate": live_summary.budget_met_rate,
        "sim_budget_met_rate": _noisy_budget_met_rate(spec, platform, trace, n, phase_ms),
        "sim_noise_free_budget_met_rate": float(np.mean(sim["budget_met"][:n])),
        "real_latency_ms_mean": float(real_ms.mean()),
        "sim_latency_ms_mean": float(sim_ms.mean()),
        "same_config_rate": float(same_config),
        "disagreement": _disagreement(live[:n], models, sim),
        "free_latency_ratio": _free_latency_ratio(live[:n], models),
        "model_median_abs_err": float(np.median(model_error)),
        "model_p90_abs_err": float(np.percentile(model_error, 90)),
        "noise_floor_median_abs_err": float(np.median(floor)),
        "noise_floor_p90_abs_err": float(np.percentile(floor, 90)),
        "median_excess_err": float(np.median(error) - np.median(floor)),
        "real_energy_mj": live_summary.energy_mj,
        "sim_energy_mj": float(np.mean(sim["energy_mj"][:n])),
        "real_agent_ms_median": live_summary.agent_ms,
        "sim_agent_ms": float(np.median(sim["agent_ms"][:n])),
        "live_load_excess": float(np.mean([float(r["load_cpu"]) - trace.load_at(float(r["time_s"]))["cpu"]
                                           for r in live[:n]])) if "load_cpu" in live[0] else math.nan,
        "load_avg_1min": _loadavg(),
        **drawn,
        **baseline,
    }


def _latency_factor(platform) -> dict | None:
    """The latency factor of ``platform``'s calibration (None: not calibrated)."""
    return platform.descriptor["provenance"].get("calibration", {}).get("latency_factor")


def _config_of(frame: dict) -> tuple[int, str, float]:
    """A frame's configuration (k, PE, frequency) from a live log row or the simulator's info, alike."""
    return int(frame["groups"]), frame["pe"], float(frame["freq_mhz"])


def _config_index(platform) -> dict[tuple[int, str, float], int]:
    """Each configuration's index in ``platform.configs()``, by :func:`_config_of`'s key."""
    return {(c.groups, c.pe, float(c.freq_mhz)): i for i, c in enumerate(platform.configs())}


class _FrameModel(NamedTuple):
    """The model's two outcomes for a live frame's configuration at the trace's load then."""

    ahead_ms: float
    split_ms: float
    split_share: float

    @property
    def midway_ms(self) -> float:
        """Where an inference is nearer the split outcome than the ahead one."""
        return (self.ahead_ms + self.split_ms) / 2.0


def _split_live(row: dict[str, str], model: _FrameModel) -> bool:
    """Whether a live frame split from the start on its held core: its inference nearer the model's
    split latency than its ahead one (False on a core no other work holds)."""
    return model.split_share > 0.0 and float(row["infer_ms"]) > model.midway_ms


def _frame_models(platform, trace, rows: list[dict[str, str]]) -> list[_FrameModel]:
    """Per live frame, the model's outcomes for its configuration at the trace's load (the simulator's
    contention rule at the trace's frame period)."""
    from platform_models.contention import Contention

    contention = Contention(platform, trace.frame_period_ms)
    index = _config_index(platform)
    pe_names = [pe.name for pe in platform.pes]
    models = []
    for r in rows:
        load = trace.load_at(float(r["time_s"]))
        outcomes = contention.config_metrics(np.array([load.get(name, 0.0) for name in pe_names])).outcomes
        j = index[_config_of(r)]
        models.append(_FrameModel(float(outcomes.ahead.latency_ms[j]), float(outcomes.split.latency_ms[j]),
                                  float(outcomes.split_share[j])))
    return models


def _disagreement(rows: list[dict[str, str]], models: list[_FrameModel],
                  sim: dict[str, list]) -> dict[str, dict[str, int]]:
    """Why the live run and the simulation at its phase (noise-free) disagree on a frame's budget: per
    cause, the frames the simulation met and the live run did not (``sim_met``), and the other way
    (``real_met``). ``config``: the two chose different configurations. ``split``: a frame on a held
    core split from the start on one side and ahead of the other work on the other (each side's
    inference nearer the model's split or its ahead latency, ``models``). ``latency``: the same
    configuration and outcome, a latency on the other side of the budget (the machine's speed and
    noise, a split frame's length)."""
    counts = {cause: {"sim_met": 0, "real_met": 0} for cause in ("config", "split", "latency")}
    for i, (r, model) in enumerate(zip(rows, models, strict=True)):
        real_met = r["budget_met"] == "True"
        if real_met == bool(sim["budget_met"][i]):
            continue
        cause = "latency"
        if _config_of(r) != sim["config"][i]:
            cause = "config"
        elif model.split_share > 0.0:
            sim_infer_ms = sim["latency_ms"][i] - sim["agent_ms"][i] - sim["queue_ms"][i]
            if _split_live(r, model) != (sim_infer_ms > model.midway_ms):
                cause = "split"
        counts[cause]["real_met" if real_met else "sim_met"] += 1
    return counts


def _free_latency_ratio(rows: list[dict[str, str]], models: list[_FrameModel]) -> float:
    """The median over the live frames on cores no other work shares of their inference over the
    model's latency (NaN without such frames): how much slower than its table (> 1) the machine ran
    during the run, where contention has no part in it."""
    ratios = [float(r["infer_ms"]) / model.ahead_ms for r, model in zip(rows, models, strict=True)
              if model.split_ms == model.ahead_ms and model.split_share == 0.0]
    return float(np.median(ratios)) if ratios else math.nan


def _simulate(spec: str, platform, trace, n_frames: int, seed: int | None = None,
              phase_ms: float | None = None) -> dict[str, list]:
    """The simulator's frames: noise-free (``seed`` None: every latency the model's expectation) or
    with the latency noise drawn from ``seed``; at the scheduler tick's phase ``phase_ms`` (a live
    run's replayed: each held frame's outcome its phase's) or, None, at one drawn from ``seed``."""
    import gymnasium

    import envs  # noqa: F401  (registers the env id)
    from controllers import make_controller

    env = gymnasium.make("dynscale/DynamicDNN-v0", platform=platform, trace=trace, max_frames=n_frames,
                         latency_noise=seed is not None)
    controller = make_controller(spec, platform, env)
    keys = ("latency_ms", "budget_met", "config", "agent_ms", "queue_ms", "energy_mj")
    columns: dict[str, list] = {key: [] for key in keys}
    obs, info = env.reset(seed=seed or 0, options={"tick_phase_ms": phase_ms})
    controller.reset()
    done = False
    while not done:
        action = controller.act(obs, {**info, "action_mask": env.unwrapped.action_masks()})
        obs, _, terminated, truncated, info = env.step(action)
        done = terminated or truncated
        columns["latency_ms"].append(info["latency_ms"])
        columns["budget_met"].append(info["budget_met"])
        columns["agent_ms"].append(info["agent_ms"])
        columns["queue_ms"].append(info["queue_ms"])
        columns["energy_mj"].append(info["energy_mj"])
        columns["config"].append(_config_of(info))
    env.close()
    return columns


def _noisy_budget_met_rate(spec: str, platform, trace, n_frames: int, phase_ms: float | None = None) -> float:
    """The budget-met rate of the first ``n_frames`` frames over ``NOISY_RUNS`` simulations with the
    noise drawn (seeds 0, 1, ...), at the tick's phase ``phase_ms`` (None: drawn too)."""
    return float(np.mean([_simulate(spec, platform, trace, n_frames, seed, phase_ms)["budget_met"][:n_frames]
                          for seed in range(NOISY_RUNS)]))


def _tick_phase_ms(platform, rows: list[dict[str, str]]) -> float | None:
    """The live run's phase in the kernel's scheduler tick: its first frame's arrival on the monotonic
    clock (``arrival_s``), to which the kernel aligns its tick, modulo the tick; None where the
    platform does not know where in the tick a held core splits (nothing to replay it against) or
    the log has no arrival times."""
    arrival_s = rows[0].get("arrival_s") if rows else None
    if getattr(platform, "contention_split_window_end_ms", None) is None or not arrival_s:
        return None
    return float(arrival_s) * 1000.0 % platform.scheduler_tick_ms


def _model_error(platform, trace, rows: list[dict[str, str]]) -> np.ndarray:
    # The lookup controller's prediction: the platform table under the contention rule at the load.
    from platform_models.prediction import Predictor

    predictor = Predictor(platform)
    index = _config_index(platform)
    errors = []
    for r in rows:
        latency_ms = predictor.predict(trace.load_at(float(r["time_s"]))).latency_ms
        predicted = latency_ms[index[_config_of(r)]]
        errors.append(abs(predicted - float(r["infer_ms"])) / float(r["infer_ms"]))
    return np.array(errors) if errors else np.array([math.nan])


def _table_drift(board, platform) -> float:
    """This machine now against its table: the mean of 30 inferences of the full network on one core
    of the first PE, measured as the profiler measures, over the table's figure (1.2 = 20 % slower
    than when the table was measured)."""
    from hw_agents.affinity import inference_state_restored
    from hw_agents.inference import platform_dnn
    from hw_agents.profiler import ProfilePoint, measure_point

    pe = platform.pes[0]
    point = ProfilePoint(pe.name, max(pe.freqs_mhz), 1, platform.groups)
    model, _, x = platform_dnn(platform)
    with inference_state_restored(), board.session():
        now_ms = measure_point(board, model, x, point, repeats=30, warmup=5)["latency_ms_mean"]
    return now_ms / platform.latency_ms(point.pe, point.freq_mhz, 1, point.groups)


def _noise_floor(trace, rows: list[dict[str, str]], real_ms: np.ndarray,
                 models: list[_FrameModel]) -> np.ndarray:
    """|group mean - real| / real, grouping the live frames by (trace segment, configuration, outcome):
    on a held core a frame split from the start and one ahead of the other work are two outcomes
    (:func:`_split_live`), which the simulator tells apart at the live run's phase, so a floor that
    pooled them would be one the model can beat."""
    groups: dict[tuple, list[int]] = {}
    for i, (r, model) in enumerate(zip(rows, models, strict=True)):
        key = (trace.segment_at(float(r["time_s"])), _config_of(r), _split_live(r, model))
        groups.setdefault(key, []).append(i)
    mean = np.empty_like(real_ms)
    for members in groups.values():
        mean[members] = real_ms[members].mean()
    return np.abs(mean - real_ms) / real_ms


def _loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


if __name__ == "__main__":
    _entry.run(main, "sim_vs_real")
