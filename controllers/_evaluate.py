"""Evaluation: controllers run over traces in the simulator, figures per controller and trace.

Every controller meets every trace for ``episodes`` episodes, seeded ``seed + episode`` so that all
controllers face the same noise draws where their choices agree. Per episode it records the
per-inference figures the environment reports in ``info`` (never reverse-engineered from the
reward) and reduces them to one row per (controller, trace):

* ``budget_met_rate``: share of inferences that met every budget in force;
* ``accuracy``: mean top-1 accuracy of the groups used; ``energy_mj``: mean energy per inference;
* ``latency_ms`` / ``latency_p95_ms``: mean and 95th percentile latency (queueing included);
* ``reward``: mean reward per inference;
* ``gap_closed``, the headline score: ``(r - r_schedutil) / (r_oracle - r_schedutil)`` on the same
  trace(s) and seeds, the share of the gap between a fixed floor (the ``schedutil`` governor at full
  groups) and the clairvoyant oracle that a controller closes: 0 = no better than the governor, 1 =
  the oracle's reward. Defined whatever the reward's sign (NaN only where the oracle is not ahead
  of the floor); it can exceed 1 where the greedy oracle is beaten (it is not a strict upper bound);
* ``reward_vs_oracle``: mean reward / the oracle's, kept where the oracle's is positive (NaN
  elsewhere: a ratio to a negative reward means nothing).

Each figure comes with ``<figure>_std``, its spread across episodes. Run folders of the same
algorithm count as seeds of one controller: their row holds the mean over seeds, ``_std`` the
spread over every episode of every seed, ``<figure>_seed_std`` the spread of the seeds' means and
``<figure>_seeds`` (and ``gap_closed_seeds``) the seeds' means themselves.
The oracle and the schedutil floor run whether asked for or not: the scores need them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from controllers._factory import make_controller
from controllers._runs import is_run_dir, read_run_config
from controllers._train import resolve_traces
from controllers.errors import ControllerError

FIGURES = (
    "budget_met_rate",
    "accuracy",
    "energy_mj",
    "latency_ms",
    "latency_p95_ms",
    "reward",
)
ALL_TRACES = "all"
FLOOR = "schedutil"
"""The floor of ``gap_closed``: the Linux default governor, which every board already runs."""
SCORE_REFERENCES = (FLOOR, "oracle")
SCORES = ("gap_closed", "reward_vs_oracle")
_LOGGED = (
    "time_s",
    "latency_ms",
    "latency_budget_ms",
    "groups",
    "pe",
    "freq_mhz",
    "energy_mj",
    "accuracy",
    "budget_met",
    "reward",
)


@dataclass
class Episode:
    """What one controller did over one trace: per-inference columns (``_LOGGED``)."""

    controller: str
    trace: str
    seed: int
    columns: dict[str, list] = field(default_factory=lambda: {k: [] for k in _LOGGED})

    def figures(self) -> dict[str, float]:
        """The row figures of this episode (without the oracle ratio)."""
        latency = np.asarray(self.columns["latency_ms"], dtype=float)
        return {
            "budget_met_rate": float(np.mean(self.columns["budget_met"])),
            "accuracy": float(np.mean(self.columns["accuracy"])),
            "energy_mj": float(np.mean(self.columns["energy_mj"])),
            "latency_ms": float(np.mean(latency)),
            "latency_p95_ms": float(np.percentile(latency, 95)),
            "reward": float(np.mean(self.columns["reward"])),
            "n_inferences": len(latency),
        }


@dataclass
class Evaluation:
    """Rows per (controller, trace) plus one ``all`` row per controller, and the first episodes."""

    platform: str
    traces: list[str]
    rows: list[dict[str, Any]]
    episodes: list[Episode]


def run_episode(env: Any, controller: Any, label: str, trace: str, seed: int) -> Episode:
    """One pass over the env's trace with ``controller`` choosing every inference.

    A controller given another table of the simulated board (one that is off, as a board's table may
    be) sees the observation encoded for its own table, as the live agent encodes it for the
    controller's platform: the encoding's scales come from the table.
    """
    episode = Episode(label, trace, seed)
    obs, info = env.reset(seed=seed)
    controller.reset()
    unwrapped = env.unwrapped
    board_spec = unwrapped.observation_spec
    own_spec = None if controller.platform is unwrapped.platform else controller.spec
    done = False
    while not done:
        seen = obs if own_spec is None else own_spec.build_view(board_spec.decode(obs))
        action = controller.act(seen, {**info, "action_mask": unwrapped.action_masks()})
        obs, reward, terminated, truncated, info = env.step(action)
        done = terminated or truncated
        for key in _LOGGED:
            episode.columns[key].append(reward if key == "reward" else info[key])
    return episode


def controller_label(spec: str) -> str:
    """The row name of a controller: a run folder's algorithm (seeds merge), else the spec."""
    return str(read_run_config(spec)["algo"]) if is_run_dir(spec) else spec


def evaluate(
    platform: Any,
    controllers: list[str],
    traces: list[str] | None = None,
    episodes: int = 1,
    seed: int = 0,
    workers: int = 1,
    address: str | None = None,
    progress: bool = False,
    split: str = "eval",
) -> Evaluation:
    """Run every controller over every trace (default: the platform's held-out ``split``: ``eval``,
    or ``novel``, whose kinds no training trace has). ``progress``: a bar over the episodes on a
    terminal's stderr.

    ``workers`` > 1 runs the episodes as Ray tasks, ``workers`` at once (Ray embedded on this
    machine, or the cluster at ``address``); the table is the same as the serial one: every episode
    is seeded alone.
    """
    from platform_models import load_platform

    if isinstance(platform, (str, Path)):
        platform = load_platform(platform)
    if episodes < 1:
        raise ControllerError(f"--episodes: expected an integer >= 1, got {episodes}")
    if workers < 1:
        raise ControllerError(f"--workers: expected an integer >= 1, got {workers}")
    specs = [s for s in dict.fromkeys(controllers) if s not in SCORE_REFERENCES] + list(SCORE_REFERENCES)
    trace_paths = resolve_traces(platform.name, list(traces or []), split)
    seeds = [seed + e for e in range(episodes)]
    done = _run_all(platform, specs, trace_paths, seeds, workers, address, progress)
    results: dict[tuple[str, str], list[dict[str, float]]] = defaultdict(list)
    seeds_of: dict[str, list[str]] = defaultdict(list)
    kept: list[Episode] = []
    for trace_path in trace_paths:
        for spec in specs:
            label = controller_label(spec)
            if spec not in seeds_of[label]:
                seeds_of[label].append(spec)
            for e, episode in enumerate(done[(spec, trace_path)]):
                figures = episode.figures()
                figures["seed_index"] = seeds_of[label].index(spec)
                results[(label, episode.trace)].append(figures)
                if e == 0:
                    kept.append(episode)
    labels = list(dict.fromkeys(controller_label(s) for s in specs))
    names = [Path(p).stem for p in trace_paths]
    rows = _rows(results, labels, names)
    _add_scores(rows)
    return Evaluation(platform.name, names, rows, kept)


def _episodes_of(platform: Any, specs: list[str], trace_path: str, seeds: list[int]) -> list[list[Episode]]:
    """Every controller of ``specs`` over one trace, one episode per seed: the unit of work."""
    import gymnasium

    import envs  # registers the env id

    env = gymnasium.make(envs.ENV_ID, platform=platform, trace=trace_path)
    built = [(controller_label(spec), make_controller(spec, platform, env)) for spec in specs]
    name = Path(trace_path).stem
    episodes = [[run_episode(env, controller, label, name, s) for s in seeds] for label, controller in built]
    env.close()
    return episodes


def _run_all(
    platform: Any,
    specs: list[str],
    trace_paths: list[str],
    seeds: list[int],
    workers: int,
    address: str | None,
    progress: bool = False,
) -> dict[tuple[str, str], list[Episode]]:
    """The episodes of every (controller, trace): serially (the bar steps per trace), or one Ray task
    per episode (the bar steps as each finishes)."""
    from platform_models.progress import progress_bar

    if workers == 1 and address is None:
        done = {}
        per_trace = len(specs) * len(seeds)
        with progress_bar("evaluate", len(trace_paths) * per_trace, "episode", enabled=progress) as bar:
            for trace_path in trace_paths:
                for spec, episodes in zip(specs, _episodes_of(platform, specs, trace_path, seeds),
                                          strict=True):
                    done[(spec, trace_path)] = episodes
                bar.update(per_trace)
        return done
    from controllers._cluster import map_on_ray

    # Workers may run elsewhere (another cwd): files go by absolute path, the label keeps the user's.
    jobs = [(spec, path, s) for path in trace_paths for spec in specs for s in seeds]
    calls = [(platform, [_absolute(spec)], str(Path(path).resolve()), [s]) for spec, path, s in jobs]
    with progress_bar("evaluate", len(calls), "episode", enabled=progress) as bar:
        outputs = map_on_ray(_episodes_of, calls, workers, address, on_done=bar.update)
    done = defaultdict(list)
    for (spec, path, _), [[episode]] in zip(jobs, outputs, strict=True):
        episode.controller = controller_label(spec)
        done[(spec, path)].append(episode)
    return done


def _absolute(spec: str) -> str:
    return str(Path(spec).resolve()) if Path(spec).exists() else spec


def replay(platform: Any, trace: str, spec: str, seed: int = 0) -> Evaluation:
    """One controller over one trace for one episode (no oracle: no ratio)."""
    import gymnasium

    import envs  # registers the env id
    from platform_models import load_platform

    if isinstance(platform, (str, Path)):
        platform = load_platform(platform)
    (trace_path,) = resolve_traces(platform.name, [trace], "eval")
    env = gymnasium.make(envs.ENV_ID, platform=platform, trace=trace_path)
    label, name = controller_label(spec), Path(trace_path).stem
    episode = run_episode(env, make_controller(spec, platform, env), label, name, seed)
    env.close()
    row = _row(label, name, [{**episode.figures(), "seed_index": 0}])
    row.update({score: float("nan") for score in SCORES})
    return Evaluation(platform.name, [name], [row], [episode])


def _add_scores(rows: list[dict[str, Any]]) -> None:
    """``gap_closed`` and ``reward_vs_oracle`` of every row, against the references on its trace(s).

    Ratios of means, not means of per-episode ratios: one episode where the oracle's reward is near
    the floor's (or near zero) would otherwise swamp the rest. The spreads are the reward's spreads
    on the same scale.
    """
    oracle = {r["trace"]: r["reward"] for r in rows if r["controller"] == "oracle"}
    floor = {r["trace"]: r["reward"] for r in rows if r["controller"] == FLOOR}
    for row in rows:
        top, bottom = oracle[row["trace"]], floor[row["trace"]]
        for suffix in ("", "_std", "_seed_std"):
            if f"reward{suffix}" not in row:
                continue
            value = row[f"reward{suffix}"]
            shift = bottom if suffix == "" else 0.0
            row[f"gap_closed{suffix}"] = (value - shift) / (top - bottom) if top > bottom else float("nan")
            row[f"reward_vs_oracle{suffix}"] = value / top if top > 0 else float("nan")
        if "reward_seeds" in row:
            row["gap_closed_seeds"] = [
                (value - bottom) / (top - bottom) if top > bottom else float("nan")
                for value in row["reward_seeds"]
            ]


def _row(label: str, trace: str, runs: list[dict[str, float]]) -> dict[str, Any]:
    row: dict[str, Any] = {"controller": label, "trace": trace, "episodes": len(runs)}
    n_seeds = len({r["seed_index"] for r in runs})
    for name in FIGURES:
        values = np.array([r[name] for r in runs], dtype=float)
        row[name] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
        row[f"{name}_std"] = float(np.nanstd(values)) if np.isfinite(values).any() else float("nan")
        if n_seeds > 1:
            per_seed = [np.nanmean([r[name] for r in runs if r["seed_index"] == s]) for s in range(n_seeds)]
            row[f"{name}_seed_std"] = float(np.nanstd(per_seed))
            row[f"{name}_seeds"] = [float(v) for v in per_seed]
    row["n_seeds"] = n_seeds
    return row


def _rows(results: dict, labels: list[str], trace_names: list[str]) -> list[dict[str, Any]]:
    rows = []
    for label in labels:
        for trace in trace_names:
            rows.append(_row(label, trace, results[(label, trace)]))
        pooled = [r for trace in trace_names for r in results[(label, trace)]]
        rows.append(_row(label, ALL_TRACES, pooled))
    return rows
