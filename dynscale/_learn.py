"""The verbs train, evaluate, replay, export and quickstart: controllers in the simulator."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from dynscale._options import COUNT, NONNEGATIVE, check_out_dir, check_out_file, removed_on_error
from dynscale._output import add_json_flag, format_table, print_json

DEFAULT_PLATFORM = "odroid-xu3"
DEFAULT_CONTROLLERS = "lookup,lookup-adaptive,reactive,schedutil,ondemand,performance,oracle"
QUICKSTART_ALGO = "maskable-ppo"
QUICKSTART_TIMESTEPS = 2048
# A shorter warm start than the YAML's, so that `make run` fits in a few minutes on 2 cores.
QUICKSTART_HYPERPARAMS = {"pretrain_steps": 20000, "pretrain_traces": 40}
PLATFORM_HELP = "a shipped platform's name or a descriptor .yaml"
ALGO_HELP = "the stable-baselines3 algorithm (hyperparameters: controllers/hyperparams/ALGO.yml)"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add train, evaluate, replay, export and quickstart."""
    p = subparsers.add_parser("train", help="train a learned controller (stable-baselines3) in the simulator")
    p.add_argument("--platform", default=DEFAULT_PLATFORM, help=PLATFORM_HELP)
    p.add_argument(
        "--traces",
        nargs="+",
        default=[],
        metavar="TRACE",
        help="trace files (default: the platform's shipped train split)",
    )
    p.add_argument("--algo", choices=("ppo", "maskable-ppo", "dqn"), default="maskable-ppo", help=ALGO_HELP)
    p.add_argument("--timesteps", type=COUNT, default=None,
                   help="total inferences (default: hyperparams YAML; rounded up to whole rollouts)")
    p.add_argument("--seed", type=NONNEGATIVE, default=0, help="seeds the model, envs and demonstrations")
    p.add_argument("--out", type=Path, required=True, help="run folder to create (or continue with --resume)")
    p.add_argument("--resume", action="store_true", help="continue from the run folder's last checkpoint")
    p.add_argument("--eval-freq", type=COUNT, default=5000, help="timesteps between evaluations (best model)")
    p.add_argument("--save-freq", type=COUNT, default=10000, help="timesteps between checkpoints")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--hyperparams",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="override entries of controllers/hyperparams/ALGO.yml (values in YAML)",
    )
    p.add_argument(
        "--hyperparams-file",
        type=Path,
        default=None,
        metavar="FILE",
        help="YAML mapping of hyperparameters (a sweep's best/PLATFORM.yml); --hyperparams overrides it",
    )
    add_json_flag(p)
    p.set_defaults(handler=_train)

    p = subparsers.add_parser("evaluate", help="controllers over held-out traces: table, CSV, plots")
    p.add_argument("--platform", default=DEFAULT_PLATFORM, help=PLATFORM_HELP)
    p.add_argument(
        "--traces",
        nargs="+",
        default=[],
        metavar="TRACE",
        help="trace files (default: the platform's shipped --split)",
    )
    p.add_argument(
        "--split",
        choices=("eval", "novel"),
        default="eval",
        help="held-out shipped traces: eval (kinds training knows, other seeds) or novel (other kinds)",
    )
    p.add_argument(
        "--controllers",
        default=DEFAULT_CONTROLLERS,
        help="comma-separated heuristic names, oracle, run folders or exported .npz policies",
    )
    p.add_argument("--episodes", type=COUNT, default=1, help="episodes per controller and trace (seeds)")
    p.add_argument("--seed", type=NONNEGATIVE, default=0, help="episode e is seeded seed + e")
    p.add_argument("--out", type=Path, default=None,
                   help="folder for results.md/.csv and PNG plots (default: print only)")
    p.add_argument("--overwrite", action="store_true", help="write into a --out folder that holds files")
    p.add_argument(
        "--workers", type=COUNT, default=1, help="episodes at once on Ray (default 1: serial, no Ray)"
    )
    p.add_argument("--address", default=None, help="Ray cluster for --workers: auto, HOST:PORT, ray://HOST:PORT")
    add_json_flag(p)
    p.set_defaults(handler=_evaluate)

    p = subparsers.add_parser("replay", help="one controller over one trace in simulation, with its plot")
    p.add_argument("--platform", default=DEFAULT_PLATFORM, help=PLATFORM_HELP)
    p.add_argument("--trace", required=True, help="a trace CSV of the platform")
    p.add_argument("--controller", required=True, help="heuristic name, oracle, run folder or .npz policy")
    p.add_argument("--seed", type=NONNEGATIVE, default=0, help="seed of the episode (latency noise)")
    p.add_argument("--out", type=Path, default=None, help="folder for the plots (default: print only)")
    add_json_flag(p)
    p.set_defaults(handler=_replay)

    p = subparsers.add_parser(
        "export", help="write a run's policy as a numpy .npz the board runs without SB3"
    )
    p.add_argument("run_dir", type=Path, help="a run folder of `dynscale train`")
    p.add_argument("--out", type=Path, required=True, help="the policy file to write (.npz or .onnx)")
    p.add_argument("--format", choices=("npz", "onnx"), default="npz",
                   help="npz: numpy only, runs on every board; onnx: the mask inside the graph, opset 17, "
                   "for a board with onnxruntime >= 1.16 (needs the onnx extra)")
    add_json_flag(p)
    p.set_defaults(handler=_export)

    p = subparsers.add_parser(
        "quickstart", help="train a controller briefly, evaluate it against the heuristics"
    )
    p.add_argument("--platform", default=DEFAULT_PLATFORM, help=PLATFORM_HELP)
    p.add_argument("--algo", choices=("ppo", "maskable-ppo", "dqn"), default=QUICKSTART_ALGO, help=ALGO_HELP)
    p.add_argument("--timesteps", type=COUNT, default=QUICKSTART_TIMESTEPS, help="inferences to train for")
    p.add_argument("--seed", type=NONNEGATIVE, default=0, help="seeds the training")
    p.add_argument("--out", type=Path, default=Path("runs/quickstart"),
                   help="folder for everything: OUT/controller (the run; a second quickstart re-evaluates "
                   "it) and OUT/evaluation")
    add_json_flag(p)
    p.set_defaults(handler=_quickstart)


def _train(args: argparse.Namespace) -> int:
    from controllers._hyperparams_file import read_hyperparams_file
    from controllers._train import TrainSettings, parse_overrides, train
    from platform_models.progress import show_progress

    check_out_dir(args.out)
    hyperparams = read_hyperparams_file(args.hyperparams_file) if args.hyperparams_file else {}
    hyperparams.update(parse_overrides(args.hyperparams))
    with removed_on_error(args.out):
        out = train(TrainSettings(
            platform=args.platform,
            algo=args.algo,
            out=args.out,
            traces=args.traces,
            timesteps=args.timesteps,
            seed=args.seed,
            resume=args.resume,
            eval_freq=args.eval_freq,
            save_freq=args.save_freq,
            progress_bar=show_progress(not (args.no_progress or args.json)),
            hyperparams=hyperparams,
        ))
    return _print_run(out, args.json)


def _print_run(out: Path, as_json: bool) -> int:
    from controllers._runs import read_run_config

    config = read_run_config(out)
    summary = {
        "run_dir": str(out),
        "algo": config["algo"],
        "platform": config["platform"],
        "trained_timesteps": config.get("trained_timesteps"),
        "traces": len(config["traces"]),
    }
    if as_json:
        print_json(summary)
    else:
        print(format_table([summary]))
    return 0


def _show(evaluation: Any, as_json: bool, out: Path | None, header: str) -> None:
    from controllers._report import display_rows, write_report

    written = write_report(evaluation, out, header) if out is not None else []
    if as_json:
        print_json(
            {"platform": evaluation.platform, "rows": evaluation.rows, "files": [str(p) for p in written]}
        )
        return
    print(header)
    print(format_table(display_rows(evaluation.rows, only_all=True)))
    if written:
        print(f"\nper-trace table, CSV and plots: {out}/ ({len(written)} files)")


SCORES_EXPLAINED = (
    "gap_closed = (reward - schedutil's) / (oracle's - schedutil's): 0 = the Linux governor, "
    "1 = the clairvoyant oracle (the headline score); reward_vs_oracle = reward / oracle's "
    "(- where the oracle's reward is not positive)"
)


def _evaluate(args: argparse.Namespace) -> int:
    from controllers import evaluate
    from platform_models.progress import show_progress

    if args.out is not None:
        check_out_dir(args.out, overwrite=args.overwrite)
    specs = [s for s in args.controllers.split(",") if s.strip()]
    evaluation = evaluate(
        args.platform,
        specs,
        args.traces,
        episodes=args.episodes,
        seed=args.seed,
        workers=args.workers,
        address=args.address,
        progress=show_progress(not args.json),
        split=args.split,
    )
    header = (
        f"{evaluation.platform}: simulated (dynscale env), {len(evaluation.traces)} trace(s), "
        f"{args.episodes} episode(s) each; mean ±spread across episodes\n{SCORES_EXPLAINED}"
    )
    _show(evaluation, args.json, args.out, header)
    return 0


def _replay(args: argparse.Namespace) -> int:
    from controllers import replay

    if args.out is not None:
        check_out_dir(args.out)
    evaluation = replay(args.platform, args.trace, args.controller, seed=args.seed)
    _show(
        evaluation,
        args.json,
        args.out,
        f"{evaluation.platform}: {args.controller} over {args.trace} (simulated)",
    )
    return 0


def _export(args: argparse.Namespace) -> int:
    from controllers._export import export_policy

    check_out_file(args.out)
    path = export_policy(args.run_dir, args.out, args.format)
    if args.json:
        print_json({"policy": str(path)})
    else:
        print(f"wrote {path}")
    return 0


def _quickstart(args: argparse.Namespace) -> int:
    from controllers import evaluate
    from controllers._policy import POLICIES_DIR
    from controllers._runs import CONFIG_NAME, read_run_config
    from controllers._train import TrainSettings, train
    from platform_models.progress import show_progress

    check_out_dir(args.out)
    run_dir = args.out / "controller"
    progress = show_progress(not args.json)
    trained = read_run_config(run_dir).get("trained_timesteps") if (run_dir / CONFIG_NAME).exists() else None
    if trained is not None and trained >= args.timesteps:
        # A second quickstart (a second `make run`) re-evaluates what the first trained.
        print(f"{run_dir}: already trained ({trained} steps); evaluating it again (delete it to retrain)",
              file=sys.stderr if args.json else sys.stdout)
    else:
        with removed_on_error(args.out):
            train(TrainSettings(platform=args.platform, algo=args.algo, out=run_dir, timesteps=args.timesteps,
                                seed=args.seed, resume=True, progress_bar=progress,
                                hyperparams=QUICKSTART_HYPERPARAMS))
    platform_name = read_run_config(run_dir)["platform"]
    shipped = ["learned"] if (POLICIES_DIR / f"{platform_name}.npz").is_file() else []
    specs = [str(run_dir), *shipped, *DEFAULT_CONTROLLERS.split(",")]
    evaluation = evaluate(args.platform, specs, progress=progress)
    header = (
        f"{evaluation.platform}: {args.algo} trained {args.timesteps} steps on the shipped train traces, "
        "evaluated on the held-out eval traces (simulated); 'learned' is the shipped policy "
        f"(controllers/policies/)\n{SCORES_EXPLAINED}"
    )
    _show(evaluation, args.json, args.out / "evaluation", header)
    return 0
