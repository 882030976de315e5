"""Environment speed: steps per second of DynamicDNN-v0 on one core, per shipped platform.

A random valid policy (uniform over the actions ``action_masks()`` allows) drives the env over a
seeded bursty trace (60 s, the platform's default frame period), resetting at each episode's end;
every figure is the best of ``--rounds`` rounds of ``--steps`` steps. Times are the process's CPU
time (``time.process_time``), not wall time: on a shared machine the wall clock also counts the time
other processes held the core.
Besides the total, the same action sequence is replayed through the SimPy simulation alone and the
observation builder alone, so the output says where the time goes. The process is pinned to one CPU
where the OS allows it. Target: 10,000 steps/s (the simulator must never be the bottleneck of
training).

    .venv/bin/python benchmarks/env_bench.py [--steps N] [--rounds R] [--platform NAME ...] [--json]
"""

from __future__ import annotations

import _entry  # first: a Ctrl-C or SIGTERM while the modules below load waits for _entry.run

import argparse
import os
import time

import numpy as np

TARGET_STEPS_PER_S = 10_000


def main(argv: list[str] | None = None) -> int:
    from dynscale._output import add_json_flag, format_table, print_json
    from platform_models import shipped_platforms

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000, help="steps per round (default 10000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the best counts (default 5)")
    parser.add_argument("--platform", nargs="*", default=None, help="platforms (default: every shipped one)")
    add_json_flag(parser)
    args = parser.parse_args(argv)
    cpu = _pin_one_core()
    names = args.platform or shipped_platforms()
    results = {name: bench_platform(name, args.steps, args.rounds) for name in names}
    if args.json:
        print_json({"target_steps_per_s": TARGET_STEPS_PER_S, "cpu": cpu, "steps": args.steps,
                    "rounds": args.rounds, "platforms": results})
    else:
        rows = [{"platform": name, **r} for name, r in results.items()]
        print(format_table(rows, ["platform", "n_actions", "steps_per_s", "steps_per_s_gym_make",
                                  "us_step", "us_simpy", "us_observation", "us_policy", "us_other"]))
        print(f"target {TARGET_STEPS_PER_S} steps/s; pinned to CPU {cpu}; best of {args.rounds} rounds of "
              f"{args.steps} steps per platform")
    return 0


def bench_platform(name: str, n_steps: int, n_rounds: int) -> dict:
    """Steps/s of the env on platform ``name`` and the time per step of its parts (us).

    Every figure is the best of ``n_rounds`` interleaved rounds of CPU time: the machine is shared,
    and the fastest round is the one least disturbed by other processes (cache, frequency).
    """
    import gymnasium as gym

    from envs import DynamicDNNEnv
    from platform_models import load_platform
    from traces import generate

    platform = load_platform(name)
    trace = generate("bursty", platform, seed=0, duration_s=60.0)
    env = DynamicDNNEnv(platform, trace)
    made = gym.make("dynscale/DynamicDNN-v0", platform=platform, trace=trace)
    rng = np.random.default_rng(0)

    def policy(on=env) -> int:
        valid = np.flatnonzero(on.unwrapped.action_masks())
        return int(valid[rng.integers(valid.size)])

    best = {"step": np.inf, "gym_make": np.inf, "simpy": np.inf, "observation": np.inf, "policy": np.inf}
    for _ in range(n_rounds):
        actions: list[int] = []

        def recorded(on, actions=actions) -> int:
            actions.append(policy(on))
            return actions[-1]

        timings = {
            "step": _drive(env, recorded, n_steps),
            "gym_make": _drive(made, policy, n_steps),
            "simpy": _replay_simulation(env, actions),
            "observation": _replay_observation(env, n_steps),
            "policy": _time(policy, n_steps),
        }
        best = {key: min(best[key], timings[key]) for key in best}
    us = 1e6 / n_steps
    return {
        "n_actions": len(platform.configs()),
        "trace": f"bursty seed 0, {trace.duration_s:g} s, {trace.frame_period_ms:g} ms frames",
        "steps_per_s": round(n_steps / best["step"]),
        "steps_per_s_gym_make": round(n_steps / best["gym_make"]),
        "us_step": round(best["step"] * us, 1),
        "us_simpy": round(best["simpy"] * us, 1),
        "us_observation": round(best["observation"] * us, 1),
        "us_policy": round(best["policy"] * us, 1),
        "us_other": round((best["step"] - best["simpy"] - best["observation"] - best["policy"]) * us, 1),
    }


def _drive(env, policy, n_steps: int) -> float:
    """CPU seconds to step ``env`` ``n_steps`` times with ``policy`` (reset at episode ends)."""
    env.reset(seed=0)
    start = time.process_time()
    for _ in range(n_steps):
        *_, terminated, truncated, _ = env.step(policy(env))
        if terminated or truncated:
            env.reset()
    return time.process_time() - start


def _replay_simulation(env, actions: list[int]) -> float:
    """Seconds the SimPy simulation alone takes for ``actions`` (new episodes built outside the clock)."""
    env.reset(seed=0)
    spent = 0.0
    for a in actions:
        sim = env.unwrapped._sim
        if sim.done:
            env.reset()
            sim = env.unwrapped._sim
        start = time.process_time()
        sim.run_frame(a)
        spent += time.process_time() - start
    return spent


def _replay_observation(env, n_steps: int) -> float:
    """Seconds ``n_steps`` observation builds take (the shared ObservationSpec.build)."""
    env.reset(seed=0)
    return _time(env._observe, n_steps)


def _time(fn, n: int) -> float:
    start = time.process_time()
    for _ in range(n):
        fn()
    return time.process_time() - start


def _pin_one_core() -> int | None:
    """Pin this process to the last CPU it may use; None where the OS has no affinity call."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


if __name__ == "__main__":
    _entry.run(main, "env_bench")
