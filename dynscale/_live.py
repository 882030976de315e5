"""The verbs profile and deploy: the dynamic DNN measured and run live on a board."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dynscale._options import (
    COUNT,
    NONNEGATIVE,
    POSITIVE,
    Number,
    add_board_flag,
    check_out_dir,
    removed_on_error,
)
from dynscale._output import add_json_flag, format_table, print_json

# Deploy's own calibration of another machine's table: fewer inferences per reference point (30) and
# agent frames (100) than `profile --calibrate`, so that it takes seconds, not a minute.
AUTO_CALIBRATION_REPEATS = 10
AUTO_CALIBRATION_AGENT_FRAMES = 20


def _load_torch() -> None:
    """Import torch with SIGINT and SIGTERM held. A signal's Python handler raised inside torch's
    import (C++ code calling back into Python) aborts the process (``terminate called after throwing
    ... error_already_set``, exit -6): measured, 1 run in 12 of SIGINT 0.5 s into `deploy`, when the
    first import of torch came after the start-up's held window. Later ``import torch`` statements
    find it loaded.

    Also makes torch's OpenMP threads sleep when they wait instead of spinning (read by libgomp when
    torch loads). Spinning threads take the CPU from the competing work and from each other: measured
    on the 2-vCPU development VM with another process on one core, the 2-thread rows took 160-270 ms
    spinning and 5-8 ms passive. A user's own setting is kept."""
    from platform_models.signals import stop_signals_held

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    with stop_signals_held():
        import torch  # noqa: F401


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this module's verbs to the command line."""
    p = subparsers.add_parser(
        "profile",
        help="measure the DNN at every (PE, freq, cores, k) of a board and write a measured platform",
        description="Sweep every operating point (PE, frequency, cores, groups k) of a board with the real "
        "dynamic DNN: clocks fixed where settable, inference pinned, warm-up, timed repeats, power sampled "
        "in a thread. Writes OUT/<board>.yaml + .csv (a measured platform); an interrupted sweep resumes. "
        "With --calibrate PLATFORM, measures a few reference points instead and writes OUT/<platform>.yaml "
        "+ .csv: PLATFORM rescaled to this board now.",
    )
    _board_args(p)
    p.add_argument("--checkpoint", metavar="DIR", help="dnn checkpoint (weights + accuracy per k)")
    p.add_argument("--arch", help="architecture when no checkpoint (default alexnet-cifar)")
    p.add_argument("--accuracy-from", metavar="PLATFORM",
                   help="without a checkpoint: copy the accuracy per k from this platform (default: a "
                   "shipped platform with the same architecture)")
    p.add_argument("--repeats", type=COUNT, default=30, help="timed inferences per point")
    p.add_argument("--warmup", type=NONNEGATIVE, default=5, help="untimed inferences first")
    p.add_argument("--gap-ms", type=Number(float, 0), default=20.0,
                   help="idle gap before each timed inference, as between frames (default %(default)s)")
    p.add_argument("--agent-frames", type=NONNEGATIVE, default=100,
                   help="frames per PE to time the live agent's own work per frame (agent_overhead_ms, "
                   "which the simulator charges); 0: not measured (default %(default)s)")
    p.add_argument("--calibrate", metavar="PLATFORM",
                   help="instead of the sweep: measure a few reference points per PE (top frequency, 1 and "
                   "all cores, every k) and write PLATFORM with each PE's latency scaled to this board now "
                   "(and power, where a sensor reads it); the DNN is PLATFORM's")
    _add_watch_flag(p, "with --calibrate")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the platform and the journal")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_json_flag(p)
    p.set_defaults(handler=_profile)

    p = subparsers.add_parser(
        "deploy",
        help="run a controller live on a board under a trace's budgets, replaying its load for real",
        description="The live agent: each frame, read load and sensors, build the observation, ask the "
        "controller, apply (k, PE, freq), run the DNN, log one row; the trace's competing load is played "
        "by pinned CPU burners. Writes OUT/deploy-log.csv and OUT/summary.json.",
    )
    _board_args(p)
    p.add_argument("--controller", required=True, metavar="NAME|POLICY_FILE",
                   help="a heuristic (static[:K:PE:FREQ], performance, powersave, ondemand, schedutil, "
                   "reactive, lookup, lookup-adaptive), learned (the platform's shipped policy) or an "
                   "exported policy .npz (.onnx with onnxruntime)")
    p.add_argument("--trace", required=True, metavar="T", help="trace CSV for this board's platform")
    p.add_argument("--duration", type=POSITIVE, metavar="SEC",
                   help="seconds to run (default: the trace's length; the trace starts over when shorter)")
    p.add_argument("--platform", metavar="NAME|YAML", help="the board's platform (default: the board's name)")
    p.add_argument("--checkpoint", metavar="DIR", help="dnn checkpoint (default: fresh weights of the "
                   "platform's architecture; the platform's accuracy per k is logged)")
    p.add_argument("--pes", metavar="PE[,PE]", type=lambda text: text.split(","),
                   help="run the DNN on these PEs only; the others' configurations are masked "
                   "(default: every PE the agent can run it on)")
    p.add_argument("--no-load", action="store_true", help="do not replay the trace's competing load")
    p.add_argument("--load-nice", type=Number(int, -20, high=19), default=0, metavar="N",
                   help="nice value of the load burners (default 0: they share cores fairly with the DNN; "
                   "-10, as root: they keep the cores the trace says, as the simulator assumes)")
    p.add_argument("--no-calibrate", action="store_true",
                   help="use a measured platform as it is even when it was measured on another machine "
                   "(default: calibrate it to this one first, into OUT/platform/, and say so)")
    _add_watch_flag(p, "watch deploy's own calibration of another machine's table (an error with "
                    "--no-calibrate, or with a table that needs none)")
    p.add_argument("--no-rehearse", action="store_true",
                   help="sleep through the idle time to each frame (default: wake a little early and "
                   "rehearse the frame, so that its own work finds warm caches; costs prepare_ms of CPU "
                   "per frame)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the log and the summary")
    p.add_argument("--overwrite", action="store_true", help="write into a --out folder that holds files")
    add_json_flag(p)
    p.set_defaults(handler=_deploy)


def _board_args(p: argparse.ArgumentParser) -> None:
    add_board_flag(p)
    p.add_argument("--sysfs-root", default="/", metavar="DIR", help="root of /sys and /proc (default /)")
    p.add_argument("--monitor-only", action="store_true",
                   help="never write to the board (clocks are read, not set)")


def _add_watch_flag(p: argparse.ArgumentParser, applies: str) -> None:
    """``--watch-s``: a calibration watched over seconds (``hw_agents.calibrate``'s ``watch_s``)."""
    p.add_argument("--watch-s", type=Number(float, 0), default=0.0, metavar="SEC",
                   help=f"{applies}: measure the reference points again in rounds until SEC seconds have "
                   "passed, and calibrate to their mean: the board's speed over minutes, not at one moment "
                   "(default %(default)s: one round)")


def _profile(args: argparse.Namespace) -> int:
    from platform_models.signals import sigterm_raises

    # SIGTERM stops a profile as Ctrl-C does: the board restored by its session on the way out, one
    # line, 128 + the signal's number; a sweep's resume journal stays for the next run to resume from.
    with sigterm_raises():
        return _profile_here(args)


def _profile_here(args: argparse.Namespace) -> int:
    _load_torch()
    from hw_agents import BoardError, open_board
    from hw_agents.inference import DEFAULT_ARCH
    from hw_agents.profiler import profile
    from platform_models import load_platform
    from platform_models.progress import show_progress

    check_out_dir(Path(args.out))
    if args.calibrate and (args.arch or args.accuracy_from):
        raise BoardError("field 'calibrate': --arch and --accuracy-from do not apply (the DNN and its "
                         "accuracy are the calibrated platform's)", field="calibrate")
    if args.watch_s and not args.calibrate:
        raise BoardError("field 'watch_s': --watch-s applies to --calibrate only (a full sweep measures "
                         "every point once)", field="watch_s")
    board = open_board(args.board, sysfs_root=args.sysfs_root, monitor_only=args.monitor_only)
    if args.calibrate:
        return _calibrate(args, board, load_platform(args.calibrate))
    yaml_path = profile(board, args.out, checkpoint=args.checkpoint, arch=args.arch or DEFAULT_ARCH,
                        accuracy_from=args.accuracy_from, repeats=args.repeats,
                        warmup=args.warmup, gap_ms=args.gap_ms, agent_frames=args.agent_frames,
                        progress=show_progress(not (args.no_progress or args.json)))
    platform = load_platform(yaml_path)
    payload = {"platform": str(yaml_path), "table": str(platform.table_path), "rows": len(platform.rows),
               "provenance": platform.descriptor["provenance"]}
    if args.json:
        print_json(payload)
    else:
        print(f"wrote {yaml_path} and {platform.table_path} ({len(platform.rows)} points, measured)")
        print(f"power: {payload['provenance']['power']}")
        print(f"background load: {payload['provenance']['background_load']}")
        print(f"latency spread: {payload['provenance']['latency_spread']}")
    return 0


def _calibrate(args: argparse.Namespace, board, base) -> int:
    from hw_agents.calibrate import calibrate
    from platform_models import load_platform
    from platform_models.progress import show_progress
    from platform_models.turns import Turns

    yaml_path = calibrate(board, base, args.out, checkpoint=args.checkpoint, repeats=args.repeats,
                          warmup=args.warmup, gap_ms=args.gap_ms, agent_frames=args.agent_frames,
                          watch_s=args.watch_s, progress=show_progress(not (args.no_progress or args.json)))
    platform = load_platform(yaml_path)
    calibration = platform.descriptor["provenance"]["calibration"]
    if args.json:
        print_json({"platform": str(yaml_path), "table": str(platform.table_path), "rows": len(platform.rows),
                    "calibration": calibration})
        return 0
    print(f"wrote {yaml_path} and {platform.table_path}: {base.path} ({base.provenance_kind}) calibrated "
          f"to this board")
    watched = calibration.get("watched")
    for pe, by_cores in calibration["latency_factor"].items():
        for cores, factor in by_cores.items():
            ratios = calibration["latency_ratios"][pe][cores].values()
            rounds = (f"; per round, {watched['rounds']} over {watched['seconds']:g} s: "
                      f"{min(watched['latency_factor_by_round'][pe][cores]):.2f}-"
                      f"{max(watched['latency_factor_by_round'][pe][cores]):.2f}" if watched else "")
            print(f"  {pe}, {cores} core{'s' if cores > 1 else ''}: latency x {factor:.3f} "
                  f"(per k: {min(ratios):.2f}-{max(ratios):.2f}{rounds})")
    print(f"  power: {calibration['power_factor']}")
    if "contention" in calibration:
        split = ", ".join(f"{share:.0%} at {period_ms:g} ms"
                          for period_ms, share in platform.contention_split_share)
        print(f"  a core held by other work: the DNN's first {platform.contention_allowance_ms:g} ms at full "
              f"speed, the rest x {platform.contention_stretch:g}; frames split from the start: {split}"
              + (f", by their phase in the {platform.scheduler_tick_ms:g} ms scheduler tick"
                 if platform.scheduler_tick_ms else "")
              + (f" (split where they arrive up to {platform.contention_split_window_end_ms:g} ms past one)"
                 if platform.contention_split_window_end_ms is not None else ""))
        if (turns := Turns.of(platform)) is not None:
            print(f"  its turns: a tick {turns.grace_ms:g} ms or more into a frame gives the other work the "
                  f"core for as long as the frame ran + {turns.extra_ms:g} ms, and again at a tick once the "
                  f"frame has run {turns.slice_ms:g} ms since; a frame runs x {turns.run_ratio:g} its table "
                  "time")
    print(f"  kept: {calibration['kept']}")
    return 0


def _deploy(args: argparse.Namespace) -> int:
    from platform_models.errors import InputError
    from platform_models.signals import sigterm_raises

    if args.watch_s and args.no_calibrate:  # before anything loads
        raise InputError("--watch-s watches deploy's own calibration of another machine's table, which "
                         "--no-calibrate turns off: pass one of them", field="watch_s")

    # SIGTERM stops the run as Ctrl-C does: board restored, summary written. A run that fails, once
    # it calibrated into --out or when another run took the board meanwhile, leaves no --out.
    with sigterm_raises(), removed_on_error(Path(args.out)):
        return _deploy_here(args)


def _deploy_here(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from platform_models.signals import stop_signal, stop_signals_held

    # Importing torch and loading are start-up: SIGINT and SIGTERM wait (and every thread started
    # meanwhile keeps them blocked), so that no signal lands inside torch's C++ code.
    with stop_signals_held():
        _load_torch()
        from controllers import make_controller
        from hw_agents import open_board
        from hw_agents.agent import SUMMARY_NAME, DeployInterrupted, deploy, masked_pes
        from platform_models import load_platform
        from platform_models.progress import show_progress
        from traces import load_trace

        check_out_dir(Path(args.out), overwrite=args.overwrite)
        board = open_board(args.board, sysfs_root=args.sysfs_root, monitor_only=args.monitor_only)
        platform = load_platform(args.platform or board.name)
        trace = load_trace(args.trace, platform)
        controller = make_controller(args.controller, platform)  # a bad controller fails before calibrating
        masked_pes(board, platform, args.pes)  # and so does a bad --pes
    # stderr under --json, so that stdout stays one JSON document
    notes = sys.stderr if args.json else sys.stdout
    platform, calibrated = _this_machines(board, platform, args, notes)
    if calibrated:
        controller = make_controller(args.controller, platform)  # a lookup reads the calibrated table
    masked = masked_pes(board, platform)
    if masked:
        print(masked_line(masked), file=notes)
    try:
        summary = deploy(board, controller, trace, args.out, duration_s=args.duration or trace.duration_s,
                         platform=platform, checkpoint=args.checkpoint, replay_load=not args.no_load,
                         load_nice=args.load_nice, pes=args.pes, calibrated=calibrated,
                         progress=show_progress(not args.json), rehearse=not args.no_rehearse,
                         proc_root=f"{args.sysfs_root.rstrip('/')}/proc")
    except DeployInterrupted as stop:
        signum, word = stop_signal(stop)
        written = Path(stop.summary.log).with_name(SUMMARY_NAME)
        print(f"dynscale: {word} after {stop.summary.n_inferences} inferences; summary: {written}",
              file=sys.stderr)
        return 128 + signum
    if args.json:
        print_json(asdict(summary))
    else:
        columns = ["controller", "n_inferences", "budget_met_rate", "accuracy", "energy_mj", "latency_ms",
                   "latency_p95_ms", "agent_ms", "power_source", "fallbacks"]
        print(format_table([asdict(summary)], columns))
        print(f"log: {summary.log}")
    return 0


def _this_machines(board, platform, args: argparse.Namespace, notes) -> tuple[object, str]:
    """``platform``, calibrated to this machine first when its table was measured on another (unless
    ``--no-calibrate``), and what was done, for the summary ("" when nothing)."""
    from hw_agents import BoardError
    from hw_agents.agent import masked_pes
    from hw_agents.calibrate import calibrate
    from hw_agents.machine import other_machine, other_machine_line
    from platform_models import load_platform
    from platform_models.progress import show_progress

    if len(masked_pes(board, platform)) == len(platform.pes):
        return platform, ""  # a table deploy refuses: no PE of it runs here
    differences = other_machine(board, platform)
    if not differences:
        if args.watch_s:
            raise BoardError(_nothing_to_watch(board, platform), field="watch_s")
        return platform, ""
    line = other_machine_line(board, platform, differences)
    if args.no_calibrate:
        print(f"dynscale: warning: {line}", file=sys.stderr)
        return platform, ""
    into = os.path.join(args.out, "platform")
    watch = f", watched for {args.watch_s:g} s" if args.watch_s else ""
    print(f"{line}; deploy calibrates it first ({AUTO_CALIBRATION_REPEATS} inferences per reference "
          f"point{watch}) into {into}/ (--no-calibrate: use it as it is)", file=notes)
    path = calibrate(board, platform, into, checkpoint=args.checkpoint, repeats=AUTO_CALIBRATION_REPEATS,
                     agent_frames=AUTO_CALIBRATION_AGENT_FRAMES, watch_s=args.watch_s,
                     progress=show_progress(not args.json))
    watched = f" (watched for {args.watch_s:g} s)" if args.watch_s else ""
    what = (f"{platform.path} was measured on another machine ({'; '.join(differences)}); calibrated to "
            f"this one{watched} into {path} before the run")
    return load_platform(path), what


def _nothing_to_watch(board, platform) -> str:
    """Why ``--watch-s`` has no calibration to watch: ``platform`` is not another machine's."""
    derived = platform.provenance_kind == "derived" and "calibration" not in platform.descriptor["provenance"]
    whose = ("a derived table (it names no machine)" if derived
             else "this machine's table (measured or calibrated here)")
    return (f"--watch-s watches deploy's own calibration of another machine's table, and platform "
            f"{platform.name} ({platform.path}) is {whose}: deploy does not calibrate it; to calibrate it "
            f"again, watched, run `dynscale profile --board {board.name} --calibrate {platform.path} "
            f"--watch-s SEC --out DIR`, then pass --platform DIR/{platform.name}.yaml")


def masked_line(masked: dict[str, str]) -> str:
    """One line naming the PEs whose configurations deploy masks, and why."""
    reasons = "; ".join(f"{name}: {why}" for name, why in masked.items())
    their = "its configurations are" if len(masked) == 1 else "their configurations are"
    return f"{reasons}; {their} masked (a controller's pick there falls back to the nearest allowed one)"
