"""A sweep: many ``dynscale train`` + ``dynscale evaluate`` runs as the trials of one Ray Tune experiment.

Ray Tune does the scheduling, the retries, the search (Optuna's TPE through ``OptunaSearch``), the
early stopping (ASHA) and the experiment state that ``--resume`` continues from; nothing here
schedules, pools workers or stores results of its own. A trial is :func:`run_trial`: the library's
``train`` into a normal run folder ``DIR/runs/<platform>-<algo>-seed<N>-<trial id>`` and the
library's ``evaluate`` of that folder on the held-out traces. Its last report holds the figures of
``trials.csv`` and is also written to ``trial.yml`` in the run folder, so that a trial Tune starts
again after a killed driver (its state saved before the trial's end reached it) is not trained twice.

DIR::

    spec.yml      the SPEC the sweep was started with (``--resume`` checks it is the same)
    ray/          Ray Tune's experiment state (what ``--resume`` restores)
    runs/         one run folder per trial
    trials.csv, summary.md, learning_curves.png, scores.png, best/<platform>.yml   (``_sweep_report``)
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from controllers._sweep_spec import SweepSpec
from controllers.errors import SweepError
from platform_models.atomic import write_text_atomic

EXPERIMENT = "ray"
RUNS = "runs"
SPEC_COPY = "spec.yml"
TRIAL_RESULT = "trial.yml"
ERRORS = "errors.log"
METRIC = "reward"
MAX_FAILURES = 1
"""A trial that raises is started once more (from its last checkpoint), then recorded as failed."""
N_EVALUATIONS = 4
"""Evaluations per training: the points of the learning curves and the rungs ASHA compares."""


@dataclass
class SweepOutcome:
    """What a finished sweep ran: one dict per trial (settings, figures, status), in trial order."""

    spec: SweepSpec
    out: Path
    trials: list[dict[str, Any]]


def _report_callback() -> Any:
    """An SB3 callback for ``TrainSettings.after_eval``: the evaluation reward per inference to Tune."""
    import numpy as np
    import ray
    from ray import tune
    from stable_baselines3.common.callbacks import BaseCallback

    node_id = ray.get_runtime_context().get_node_id()

    class ReportEvaluation(BaseCallback):
        """Reports the mean reward per inference of the evaluation callback's last evaluation."""

        def _on_step(self) -> bool:
            length = float(np.mean(self.parent.evaluations_length[-1]))
            reward = float(self.parent.last_mean_reward) / max(length, 1.0)
            tune.report(
                {
                    METRIC: reward,
                    "timesteps": int(self.parent.num_timesteps),
                    "final": False,
                    "node_id": node_id,
                }
            )
            return True

    return ReportEvaluation()


def trial_figures(config: dict[str, Any], run_dir: Path, report: bool = True) -> dict[str, Any]:
    """Train then evaluate one setting: the same library calls as the two verbs.

    ``report``: send each evaluation reward to Tune (inside a trial); the benchmark's serial runs don't.
    """
    from controllers._evaluate import ALL_TRACES, evaluate
    from controllers._train import TrainSettings, train
    from platform_models import load_platform

    platform = load_platform(config["platform"])
    total = config["timesteps"]
    started = time.monotonic()
    settings = TrainSettings(
        platform=config["platform"],
        algo=config["algo"],
        out=run_dir,
        traces=config["traces"].get(platform.name, []),
        timesteps=total,
        seed=config["seed"],
        resume=True,  # a retried trial continues from its last checkpoint
        progress_bar=False,
        hyperparams=config["hyperparams"],
        after_eval=_report_callback() if report else None,
    )
    if total is not None:
        settings.eval_freq = max(total // N_EVALUATIONS, 1)
        settings.save_freq = max(total // 2, 1)
    train(settings)
    train_time_s = time.monotonic() - started
    evaluation = evaluate(
        platform, [str(run_dir)], config["eval_traces"].get(platform.name, []), seed=config["seed"]
    )
    row = next(r for r in evaluation.rows if r["controller"] == config["algo"] and r["trace"] == ALL_TRACES)
    trained = yaml.safe_load((run_dir / "config.yml").read_text())["trained_timesteps"]
    return {
        METRIC: row["reward"],
        "gap_closed": row.get("gap_closed", math.nan),
        "reward_vs_oracle": row["reward_vs_oracle"],
        "budget_met_rate": row["budget_met_rate"],
        "energy_mj": row["energy_mj"],
        "train_time_s": round(train_time_s, 2),
        "timesteps": int(trained),
        "final": True,
    }


def run_trial(config: dict[str, Any]) -> None:
    """The Tune trainable: one training and its evaluation, reported to Tune; see the module doc."""
    import ray
    from ray import tune

    from platform_models import load_platform

    name = load_platform(config["platform"]).name
    trial_id = tune.get_context().get_trial_id()
    run_dir = Path(config["out"]) / RUNS / f"{name}-{config['algo']}-seed{config['seed']}-{trial_id}"
    done = run_dir / TRIAL_RESULT
    if done.is_file():
        tune.report(yaml.safe_load(done.read_text()))
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        node_id = ray.get_runtime_context().get_node_id()
        figures = {**trial_figures(config, run_dir), "node_id": node_id, "run_dir": str(run_dir)}
    except Exception as err:
        with open(run_dir / ERRORS, "a") as log:
            log.write(_error_line(err) + "\n")
        raise
    write_text_atomic(done, yaml.safe_dump(figures, sort_keys=False))
    tune.report(figures)


def _error_line(err: BaseException) -> str:
    """The one line that says what a trial raised (its type and first message line)."""
    cause = getattr(err, "cause", None) or err
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0] if lines else ''}".strip()


def _param_space(spec: SweepSpec, out: Path) -> dict[str, Any]:
    """Tune's ``param_space``: grid axes as ``grid_search``, searched ones as Tune distributions."""
    from ray import tune

    search = spec.samples is not None

    def axis(values: list[Any]) -> Any:
        if search:
            return values[0] if len(values) == 1 else tune.choice(values)
        return values[0] if len(values) == 1 else tune.grid_search(values)

    hyperparams: dict[str, Any] = dict(spec.fixed)
    hyperparams.update({name: axis(values) for name, values in spec.grid.items()})
    for name, (kind, args) in spec.space.items():
        hyperparams[name] = getattr(tune, kind)(args) if kind == "choice" else getattr(tune, kind)(*args)
    return {
        "platform": axis(spec.platforms),
        "algo": axis(spec.algos),
        "seed": axis(spec.seeds),
        "timesteps": axis(spec.timesteps),
        "hyperparams": hyperparams,
        "traces": spec.traces,
        "eval_traces": spec.eval_traces,
        "out": str(out),
    }


def trial_dirname(trial: Any) -> str:
    """Tune's folder of a trial is named by its id alone (``trials.csv`` finds a failed trial's by it)."""
    return str(trial.trial_id)


def _tune_config(spec: SweepSpec, max_concurrent: int | None) -> Any:
    from ray import tune

    common = {
        "max_concurrent_trials": max_concurrent,
        "reuse_actors": True,
        "trial_dirname_creator": trial_dirname,
    }
    if spec.samples is None:
        return tune.TuneConfig(**common)
    import optuna
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    scheduler = None
    if spec.asha:
        from controllers._train import load_hyperparams
        from platform_models import load_platform

        algo, name = spec.algos[0], load_platform(spec.platforms[0]).name
        total = spec.timesteps[0] or int(load_hyperparams(algo, name, spec.fixed)["n_timesteps"])
        scheduler = ASHAScheduler(
            time_attr="timesteps",
            max_t=total + 1,  # one past the last evaluation: ASHA stops a trial at max_t, before its test
            grace_period=max(total // N_EVALUATIONS, 1),
            reduction_factor=2,
        )
    return tune.TuneConfig(
        metric=METRIC,
        mode="max",
        search_alg=OptunaSearch(sampler=optuna.samplers.TPESampler(seed=spec.seeds[0])),
        scheduler=scheduler,
        num_samples=spec.samples,
        **common,
    )


class _Progress:
    """One line on stderr (trials done / running / failed, time left), rewritten in place.

    A Ray Tune callback built lazily (``_progress_callback``) so that this module imports without Ray.
    """

    def __init__(self, n_trials: int, show: bool) -> None:
        self.n_trials, self.show = n_trials, show
        self.started_s: dict[str, float] = {}
        self.durations_s: list[float] = []
        self.done, self.failed = 0, 0
        self._last_print_s = 0.0

    def start(self, trial_id: str) -> None:
        self.started_s[trial_id] = time.monotonic()
        self.print()

    def end(self, trial_id: str, failed: bool) -> None:
        started = self.started_s.pop(trial_id, None)
        if started is not None and not failed:
            self.durations_s.append(time.monotonic() - started)
        self.failed += failed
        self.done += not failed
        self.print()

    def print(self, throttle_s: float = 0.0) -> None:
        now = time.monotonic()
        if not self.show or now - self._last_print_s < throttle_s:
            return
        self._last_print_s = now
        left = "?"
        remaining = self.n_trials - self.done - self.failed
        if self.durations_s:
            per_trial_s = sum(self.durations_s) / len(self.durations_s)
            left_s = remaining * per_trial_s / max(len(self.started_s), 1)
            left = f"~{int(left_s // 60)}m{int(left_s % 60):02d}s"
        line = (
            f"sweep: {self.done}/{self.n_trials} done, {len(self.started_s)} running, "
            f"{self.failed} failed, {left} left"
        )
        sys.stderr.write("\r" + line.ljust(70))
        sys.stderr.flush()

    def close(self) -> None:
        if self.show:
            sys.stderr.write("\n")


def _progress_callback(progress: _Progress) -> Any:
    from ray import tune

    class ProgressLine(tune.Callback):
        def __init__(self) -> None:
            self.progress = progress

        def __reduce__(self) -> tuple:
            # Tune pickles its callbacks with the experiment; a restored one is replaced by a new line.
            return (_silent_callback, ())

        def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            self.progress.start(trial.trial_id)

        def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            self.progress.end(trial.trial_id, failed=False)

        def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            self.progress.end(trial.trial_id, failed=True)

        def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
            self.progress.print(throttle_s=1.0)

    return ProgressLine()


def _silent_callback() -> Any:
    return _progress_callback(_Progress(0, show=False))


def prepare_out(spec: SweepSpec, out: Path, resume: bool) -> None:
    """Create DIR for a new sweep, or check that ``--resume`` continues the same SPEC there."""
    copy = out / SPEC_COPY
    if resume:
        if not (out / EXPERIMENT).is_dir() or not copy.is_file():
            raise SweepError(f"{out}: holds no sweep to resume (start it without --resume)")
        if copy.read_text() != Path(spec.path).read_text():
            raise SweepError(f"{spec.path}: differs from {copy}, the SPEC this sweep was started with")
        return
    if copy.exists() or (out / EXPERIMENT).exists():
        raise SweepError(f"{out}: already holds a sweep (use --resume to finish it, or another --out)")
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(spec.path, copy)


def run_sweep(
    spec: SweepSpec,
    out: Path,
    address: str | None = None,
    max_concurrent: int | None = None,
    resume: bool = False,
    show_progress: bool = False,
) -> SweepOutcome:
    """Run (or finish, with ``resume``) the sweep of ``spec`` into ``out`` on Ray.

    Args:
        spec: a checked SPEC (``read_spec``).
        out: the sweep folder; on a cluster, a path every node sees (shared storage).
        address: None (Ray embedded on this machine), ``auto``, ``HOST:PORT`` or ``ray://HOST:PORT``.
        max_concurrent: trials at once (None: as many as the cluster has CPUs); the embedded Ray
            offers that many CPUs.
        resume: finish the unfinished trials of the sweep in ``out``; finished ones are kept.
        show_progress: the one progress line on stderr.

    Raises:
        SweepError: ``out`` does not fit ``resume``, or the address answers nothing.
        KeyboardInterrupt: Ctrl-C; Tune saved the state, ``--resume`` finishes the sweep.
    """
    from controllers._cluster import check_address, ray_session

    out = out.resolve()
    check_address(address)  # before DIR is made: a wrong address leaves nothing behind
    prepare_out(spec, out, resume)
    progress = _Progress(spec.n_trials, show_progress)
    with ray_session(address, num_cpus=max_concurrent):
        from ray import tune

        from controllers._sweep_report import collect_trials

        callback = _progress_callback(progress)
        if resume:
            tuner = tune.Tuner.restore(str(out / EXPERIMENT), trainable=run_trial, resume_unfinished=True)
            # The restored run config holds a placeholder for the pickled callback (ProgressLine.__reduce__).
            tuner._local_tuner.get_run_config().callbacks = [callback]
            ended = tuner.get_results()  # the trials the saved state holds as ended are not run again
            progress.done, progress.failed = ended.num_terminated, ended.num_errors
        else:
            tuner = tune.Tuner(
                run_trial,
                param_space=_param_space(spec, out),
                tune_config=_tune_config(spec, max_concurrent),
                run_config=tune.RunConfig(
                    name=EXPERIMENT,
                    storage_path=str(out),
                    failure_config=tune.FailureConfig(max_failures=MAX_FAILURES),
                    verbose=0,
                    callbacks=[callback],
                ),
            )
        try:
            results = tuner.fit()
        finally:
            progress.close()
        if results.num_terminated + results.num_errors < spec.n_trials:  # Ctrl-C: Tune stopped early
            raise KeyboardInterrupt
        return SweepOutcome(spec, out, collect_trials(spec, results))
