"""Training a learned controller with stable-baselines3, saved as an RL-Zoo-style run folder.

Reads in execution order: settings, hyperparameters (``hyperparams/<algo>.yml``), the environment
factory, the callbacks (evaluation with best-model saving, checkpoints for ``--resume``, TensorBoard
scalars of the domain metrics), the model (fresh or reloaded from the last checkpoint), the loop,
and the atomic save of the final model and ``config.yml``. The folder layout is in ``_runs``.
"""

from __future__ import annotations

import re
import shutil
import time
from collections import deque
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from controllers._hyperparams import OWN_KEYS, check_hyperparams, whole_rollouts
from controllers._learned import algo_class
from controllers._normalise import ObservationNormaliser
from controllers._runs import ALGOS, CONFIG_NAME, FINAL_MODEL, read_run_config
from controllers.errors import ControllerError
from platform_models.atomic import atomic_path, write_text_atomic
from platform_models.user_text import TextProblem, parse_yaml

NORMALISER_STEPS = 2000  # oracle-labelled steps that fit the normalisation when nothing is cloned
_METRICS = ("budget_met", "energy_mj", "accuracy", "latency_ms")


@dataclass
class TrainSettings:
    """What ``dynscale train`` was asked for."""

    platform: str
    """Shipped platform name or descriptor path."""
    algo: str
    """ppo, maskable-ppo or dqn."""
    out: Path
    """The run folder."""
    traces: list[str] = field(default_factory=list)
    """Trace files; empty = the platform's shipped train split."""
    timesteps: int | None = None
    """Total inferences to train for (None: the hyperparameter file's n_timesteps)."""
    seed: int = 0
    resume: bool = False
    """Continue from the last checkpoint in ``out/checkpoints``."""
    eval_freq: int = 5000
    """Timesteps between evaluations of the evaluation callback."""
    n_eval_episodes: int = 2
    save_freq: int = 10000
    """Timesteps between checkpoints."""
    progress_bar: bool = True
    hyperparams: dict[str, Any] = field(default_factory=dict)
    """Overrides of the YAML's entries."""
    after_eval: Any = None
    """An SB3 callback run after each evaluation (its ``parent`` is the evaluation callback): a sweep
    reports the evaluation reward to Ray Tune with it."""


def load_hyperparams(
    algo: str, platform_name: str, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The YAML entry for this platform (else ``default``), with overrides applied."""
    if algo not in ALGOS:
        raise ControllerError(f"--algo: expected one of {', '.join(ALGOS)}, got '{algo}'")
    table = yaml.safe_load(files("controllers").joinpath("hyperparams", f"{algo}.yml").read_text())
    params = dict(table.get(platform_name, table["default"]))
    params.update(overrides or {})
    return params


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings (VALUE in YAML: ``n_steps=64``, ``policy_kwargs={net_arch: [32]}``)."""
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ControllerError(f"--hyperparams: expected KEY=VALUE, got '{item}'")
        try:
            overrides[key] = parse_yaml(value)[0]  # refuses aliases, as every YAML a user hands in
        except TextProblem as problem:
            raise ControllerError(f"--hyperparams: {key}: not a YAML value: '{value}' ({problem})") from None
    return overrides


def resolve_traces(platform_name: str, traces: list[str], split: str) -> list[str]:
    """The given trace files, or the platform's shipped ones of ``split``; checked for the platform."""
    from traces import load_trace, shipped_traces

    paths = [str(p) for p in traces] or [str(p) for p in shipped_traces(platform_name, split)]
    if not paths:
        raise ControllerError(f"--traces: none given and {platform_name} ships no '{split}' traces")
    for path in paths:
        trace = load_trace(path)
        if trace.platform != platform_name:
            raise ControllerError(
                f"{path}: field 'platform': trace is for {trace.platform!r}, not {platform_name!r}"
            )
    return paths


def make_env(platform: Any, traces: list[str], normaliser: ObservationNormaliser | None = None) -> Any:
    """One simulated board over a list of traces (one drawn per reset), normalised, with SB3's Monitor."""
    import gymnasium
    from gymnasium.wrappers import TransformObservation
    from stable_baselines3.common.monitor import Monitor

    import envs  # registers the env id (imported here: the board imports controllers without gymnasium)

    env = gymnasium.make(envs.ENV_ID, platform=platform, trace=list(traces))
    if normaliser is not None:
        space = gymnasium.spaces.Box(
            -normaliser.clip, normaliser.clip, env.observation_space.shape, np.float32
        )
        env = TransformObservation(env, normaliser, space)
    return Monitor(env)


def _metrics_callback() -> Any:
    from stable_baselines3.common.callbacks import BaseCallback

    class DomainMetrics(BaseCallback):
        """Logs budget-met rate, energy per inference and accuracy to TensorBoard."""

        def __init__(self, window: int = 2000) -> None:
            super().__init__()
            self._recent = {m: deque(maxlen=window) for m in _METRICS}

        def _on_step(self) -> bool:
            for info in self.locals.get("infos", []):
                for metric in _METRICS:
                    if metric in info:
                        self._recent[metric].append(float(info[metric]))
            return True

        def _on_rollout_end(self) -> None:
            for metric, values in self._recent.items():
                if values:
                    name = "budget_met_rate" if metric == "budget_met" else metric
                    self.logger.record(f"dynscale/{name}", float(np.mean(values)))

    return DomainMetrics()


def _last_checkpoint(out: Path) -> tuple[int, Path] | None:
    """(timesteps, path) of the newest CheckpointCallback save in the run folder."""
    found = []
    for path in (out / "checkpoints").glob("ckpt_*_steps.zip"):
        match = re.fullmatch(r"ckpt_(\d+)_steps\.zip", path.name)
        if match:
            found.append((int(match.group(1)), path))
    return max(found) if found else None


def _check_resumable(settings: TrainSettings, config: dict[str, Any]) -> None:
    where = settings.out / CONFIG_NAME
    for key, value in (("algo", settings.algo), ("platform", config["platform"])):
        if read_run_config(settings.out)[key] != value:
            raise ControllerError(f"{where}: field '{key}': the run was trained with another value")


def _atomic_save(model: Any, path: Path) -> None:
    with atomic_path(path) as tmp, tmp.open("wb") as handle:
        model.save(handle)  # to a handle: given a name without ".zip", SB3 would append it


def write_config(out: Path, config: dict[str, Any]) -> None:
    """``config.yml``, written atomically."""
    write_text_atomic(out / CONFIG_NAME, yaml.safe_dump(config, sort_keys=False))


@dataclass
class _Plan:
    """Everything checked before any work: the platform, hyperparameters, traces and run folder."""

    settings: TrainSettings
    platform: Any
    params: dict[str, Any]
    total: int
    trace_paths: list[str]
    out: Path
    checkpoint: tuple[int, Path] | None


def train(settings: TrainSettings) -> Path:
    """Train, evaluate and save a run folder; returns its path.

    The steps: plan (every input checked), the observation normalisation, the envs, the model (fresh
    and warm-started, or reloaded from the last checkpoint), the callbacks, the loop, the save.
    """
    start_s, start_cpu_s = time.monotonic(), time.process_time()
    plan = _plan(settings)
    demo_env = _demonstration_env(plan) if plan.checkpoint is None and _needs_demonstrations(plan) else None
    demos = _oracle_demonstrations(plan, demo_env) if demo_env is not None else None
    normaliser = _normaliser(plan, demos)
    env, eval_env = _make_envs(plan, normaliser)
    config = _run_config(plan, env, normaliser)
    write_config(plan.out, config)
    model = _make_model(plan, env)
    if demo_env is not None and int(plan.params.get("pretrain_steps", 0)) > 0:
        config["pretrain"] = _warm_start(model, plan, demo_env, demos, normaliser)
    if demo_env is not None:
        demo_env.close()
    remaining = plan.total - model.num_timesteps
    if remaining > 0:
        model.learn(
            remaining,
            callback=_callbacks(plan, eval_env),
            reset_num_timesteps=plan.checkpoint is None,
            tb_log_name=settings.algo,
            progress_bar=settings.progress_bar,
        )
    config["train_wall_s"] = round(time.monotonic() - start_s, 1)
    config["train_cpu_s"] = round(time.process_time() - start_cpu_s, 1)  # this process, all threads
    _save(model, plan.out, config)
    env.close()
    eval_env.close()
    return plan.out


def _plan(settings: TrainSettings) -> _Plan:
    from platform_models import load_platform

    platform = load_platform(settings.platform)
    params = load_hyperparams(settings.algo, platform.name, settings.hyperparams)
    check_hyperparams(settings.algo, params)
    if settings.algo == "dqn" and int(params.get("pretrain_steps", 0)) > 0:
        raise ControllerError("controllers/hyperparams/dqn.yml: field 'pretrain_steps': PPO variants only")
    trace_paths = resolve_traces(platform.name, settings.traces, "train")
    out = Path(settings.out)
    checkpoint = _last_checkpoint(out) if settings.resume else None
    if (out / CONFIG_NAME).exists() and not settings.resume:
        raise ControllerError(f"{out}: already holds a run (use --resume to continue it, or another --out)")
    out.mkdir(parents=True, exist_ok=True)
    timesteps = settings.timesteps if settings.timesteps is not None else params["n_timesteps"]
    total = whole_rollouts(int(timesteps), settings.algo, params)
    return _Plan(settings, platform, params, total, trace_paths, out, checkpoint)


def _needs_demonstrations(plan: _Plan) -> bool:
    return int(plan.params.get("pretrain_steps", 0)) > 0 or bool(plan.params.get("normalize"))


def _generated_traces(platform: Any, n: int, seed: int) -> list[Any]:
    """``n`` more synthetic train-split traces for the demonstrations, every kind in turn.

    Five shipped train traces are too few states to clone from: the cloned policy agreed with the
    oracle on 92 % of the train states but 34 % of an eval trace's. Seeds start at 10,000 (the shipped
    traces use seeds below 200), so no held-out trace is ever generated here.
    """
    from traces import GENERATED_KINDS, generate

    return [
        generate(
            GENERATED_KINDS[i % len(GENERATED_KINDS)],
            platform,
            seed=10_000 + 1000 * seed + i,
            duration_s=20.0,
            split="train",
        )
        for i in range(n)
    ]


def _demonstration_env(plan: _Plan) -> Any:
    """The shipped train traces and ``pretrain_traces`` generated ones, unnormalised (the oracle
    decodes the raw observation)."""
    n_generated = int(plan.params.get("pretrain_traces", 0))
    generated = _generated_traces(plan.platform, n_generated, plan.settings.seed)
    return make_env(plan.platform, [*plan.trace_paths, *generated])


def _oracle_demonstrations(plan: _Plan, env: Any) -> dict:
    """Oracle-labelled rollouts on the oracle's path (``_pretrain``): for cloning and normalising."""
    from controllers._pretrain import collect_demonstrations

    params = plan.params
    n_steps = max(int(params.get("pretrain_steps", 0)), NORMALISER_STEPS if params.get("normalize") else 0)
    return collect_demonstrations(
        env,
        plan.platform,
        n_steps,
        plan.settings.seed,
        float(params.get("pretrain_epsilon", 0.1)),
        float(params.get("gamma", 0.99)),
        progress=plan.settings.progress_bar,
    )


def _normaliser(plan: _Plan, demos: dict | None) -> ObservationNormaliser | None:
    """Fitted on the demonstrations, or the one a resumed run was trained with."""
    if plan.checkpoint is not None:
        stats = read_run_config(plan.out).get("normalization")
        return ObservationNormaliser.from_dict(stats) if stats else None
    return ObservationNormaliser.fit(demos["obs"]) if plan.params.get("normalize") else None


def _make_envs(plan: _Plan, normaliser: ObservationNormaliser | None) -> tuple[Any, Any]:
    """The training envs (``n_envs``) and the evaluation callback's, seeded apart."""
    from stable_baselines3.common.vec_env import DummyVecEnv

    n_envs = int(plan.params.get("n_envs", 1))
    env = DummyVecEnv([lambda: make_env(plan.platform, plan.trace_paths, normaliser) for _ in range(n_envs)])
    env.seed(plan.settings.seed)
    eval_env = DummyVecEnv([lambda: make_env(plan.platform, plan.trace_paths, normaliser)])
    eval_env.seed(plan.settings.seed + 10_000)
    return env, eval_env


def _run_config(plan: _Plan, env: Any, normaliser: ObservationNormaliser | None) -> dict[str, Any]:
    """``config.yml``: every resolved setting; a resumed run must match the one it continues."""
    import stable_baselines3

    import envs
    from platform_models.observation import OBSERVATION_VERSION

    settings = plan.settings
    config = {
        "algo": settings.algo,
        "platform": plan.platform.name,
        "platform_provenance": plan.platform.provenance_kind,
        "observation_version": OBSERVATION_VERSION,
        "observation_size": int(env.observation_space.shape[0]),
        "n_actions": int(env.action_space.n),
        "env_id": envs.ENV_ID,
        "traces": plan.trace_paths,
        "seed": settings.seed,
        "timesteps": plan.total,
        "normalize": normaliser is not None,
        "normalization": normaliser.as_dict() if normaliser is not None else None,
        "hyperparams": plan.params,
        "eval_freq": settings.eval_freq,
        "n_eval_episodes": settings.n_eval_episodes,
        "save_freq": settings.save_freq,
        "versions": {"stable_baselines3": stable_baselines3.__version__},
    }
    if settings.resume and (plan.out / CONFIG_NAME).exists():
        _check_resumable(settings, config)
    return config


def _make_model(plan: _Plan, env: Any) -> Any:
    """A fresh model with the YAML's settings, or the last checkpoint's (and its replay buffer)."""
    cls = algo_class(plan.settings.algo)
    tensorboard_log = str(plan.out / "tb")
    if plan.checkpoint is not None:
        steps, path = plan.checkpoint
        model = cls.load(path, env=env, device="cpu", tensorboard_log=tensorboard_log)
        buffer = path.with_name(f"ckpt_replay_buffer_{steps}_steps.pkl")  # CheckpointCallback's name
        if hasattr(model, "load_replay_buffer") and buffer.exists():
            model.load_replay_buffer(buffer)
        return model
    sb3_kwargs = {k: v for k, v in plan.params.items() if k not in OWN_KEYS}
    return cls(
        plan.params["policy"],
        env,
        seed=plan.settings.seed,
        device="cpu",
        verbose=0,
        tensorboard_log=tensorboard_log,
        **sb3_kwargs,
    )


def _warm_start(
    model: Any, plan: _Plan, env: Any, demos: dict, normaliser: ObservationNormaliser | None
) -> dict[str, Any]:
    """Behaviour cloning of the oracle, then DAgger rounds (``_pretrain``); what it did, for config.yml."""
    from controllers._pretrain import clone_policy, collect_demonstrations, merge, policy_learner

    params, seed = plan.params, plan.settings.seed
    masked = plan.settings.algo == "maskable-ppo"
    progress = plan.settings.progress_bar

    def fit(data: dict, epochs: int) -> float:
        if normaliser is not None:
            data = {**data, "obs": normaliser(data["obs"])}
        return clone_policy(model, data, masked=masked, epochs=epochs, seed=seed, progress=progress,
                            temperature=float(params.get("pretrain_temperature", 0.0)),
                            regret_weight=float(params.get("pretrain_regret_weight", 0.0)))

    agreement = fit(demos, int(params.get("pretrain_epochs", 10)))
    n_rounds = int(params.get("dagger_rounds", 0))
    for round_ in range(n_rounds):
        visited = collect_demonstrations(
            env,
            plan.platform,
            int(params.get("dagger_steps", 10_000)),
            seed + 1000 * (round_ + 1),
            0.0,
            float(params.get("gamma", 0.99)),
            learner=policy_learner(model, normaliser),
            progress=progress,
        )
        demos = merge(demos, visited)
        agreement = fit(demos, int(params.get("dagger_epochs", 5)))
    return {
        "teacher": "oracle",
        "steps": len(demos["actions"]),
        "dagger_rounds": n_rounds,
        "train_agreement": round(agreement, 4),
    }


def _callbacks(plan: _Plan, eval_env: Any) -> Any:
    """Evaluation with best-model saving, checkpoints for ``--resume``, TensorBoard domain metrics."""
    from stable_baselines3.common.callbacks import CallbackList, CheckpointCallback, EvalCallback

    settings = plan.settings
    n_envs = int(plan.params.get("n_envs", 1))
    eval_cls: type = EvalCallback
    if settings.algo == "maskable-ppo":
        from sb3_contrib.common.maskable.callbacks import MaskableEvalCallback

        eval_cls = MaskableEvalCallback
    return CallbackList(
        [
            eval_cls(
                eval_env,
                best_model_save_path=str(plan.out),
                log_path=str(plan.out),
                eval_freq=max(settings.eval_freq // n_envs, 1),
                n_eval_episodes=settings.n_eval_episodes,
                deterministic=True,
                verbose=0,
                callback_after_eval=settings.after_eval,
            ),
            CheckpointCallback(
                save_freq=max(settings.save_freq // n_envs, 1),
                save_path=str(plan.out / "checkpoints"),
                name_prefix="ckpt",
                save_replay_buffer=settings.algo == "dqn",
            ),
            _metrics_callback(),
        ]
    )


def _save(model: Any, out: Path, config: dict[str, Any]) -> None:
    """The final model, the best model (the final one when no evaluation ran) and config.yml."""
    _atomic_save(model, out / FINAL_MODEL)
    if not (out / "best_model.zip").exists():
        shutil.copyfile(out / FINAL_MODEL, out / "best_model.zip")
    config["trained_timesteps"] = int(model.num_timesteps)
    write_config(out, config)
