"""The hyperparameters an algorithm takes: every key one it knows, every value of the kind it needs.

Checked before anything is built: collecting demonstrations takes minutes, and SB3's constructor
would only then fail with a TypeError on ``n_steps=abc`` or ``bogus_key=1``. The keys are those of
the algorithm's constructor (read from its signature, so they follow SB3's version) and ours
(``OWN_KEYS``); a value's kind is that of the constructor's default.
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any

from controllers._learned import algo_class
from controllers.errors import ControllerError

OWN_KEYS: dict[str, type] = {
    "n_envs": int,
    "n_timesteps": int,
    "normalize": bool,
    "policy": str,
    "pretrain_steps": int,
    "pretrain_epsilon": float,
    "pretrain_epochs": int,
    "pretrain_traces": int,
    "dagger_rounds": int,
    "dagger_steps": int,
    "dagger_epochs": int,
    "pretrain_temperature": float,
    "pretrain_regret_weight": float,
}
"""dynscale's own entries of ``controllers/hyperparams/ALGO.yml`` (not passed to SB3), with their kind."""

SET_BY_TRAIN = ("env", "seed", "device", "verbose", "tensorboard_log", "_init_setup_model")
"""Constructor arguments ``train`` sets itself: not hyperparameters."""

_KIND_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def check_hyperparams(algo: str, params: dict[str, Any]) -> None:
    """Raise ControllerError (one line) for the first unknown key or value of the wrong kind."""
    kinds = {**_constructor_kinds(algo), **OWN_KEYS}
    for key, value in params.items():
        if key not in kinds:
            close = difflib.get_close_matches(key, kinds, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(sorted(kinds))}"
            raise ControllerError(f"hyperparameter {key!r}: not one {algo} takes{hint}")
        kind = kinds[key]
        if kind is not None and not _is_kind(value, kind):
            raise ControllerError(f"hyperparameter {key!r}: expected {_KIND_NAMES[kind]}, got {value!r}")


def _constructor_kinds(algo: str) -> dict[str, type | None]:
    """Keyword -> the kind of its default (None: anything, e.g. a None default or a tuple form)."""
    kinds: dict[str, type | None] = {}
    for name, parameter in inspect.signature(algo_class(algo).__init__).parameters.items():
        if name in ("self", "policy", *SET_BY_TRAIN):
            continue
        default = parameter.default
        tuple_form = "tuple" in str(parameter.annotation).lower()  # DQN's train_freq: 4 or (1, "episode")
        kinds[name] = type(default) if type(default) in _KIND_NAMES and not tuple_form else None
    return kinds


def _is_kind(value: Any, kind: type) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, kind)


def whole_rollouts(timesteps: int, algo: str, params: dict[str, Any]) -> int:
    """``timesteps`` rounded up to what the algorithm trains: whole rollouts of ``n_steps`` x ``n_envs``
    inferences (PPO variants), whole steps of ``n_envs`` (DQN). SB3 finishes the rollout it started, so
    asked for 20,000 with 2,048-step rollouts it trains 20,480: the progress bar promises that number."""
    n_envs = int(params.get("n_envs", 1))
    parameter = inspect.signature(algo_class(algo).__init__).parameters.get("n_steps")
    n_steps = int(params.get("n_steps", parameter.default)) if parameter is not None else 1
    rollout = n_steps * n_envs
    return -(-timesteps // rollout) * rollout
