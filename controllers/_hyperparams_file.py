"""A hyperparameter file: the overrides ``dynscale train --hyperparams-file`` reads, as a sweep writes them.

A YAML mapping of hyperparameter names to values, the keys of one entry of
``controllers/hyperparams/ALGO.yml`` (``n_timesteps: 20000``, ``learning_rate: 0.0003``,
``policy_kwargs: {net_arch: [64, 64]}``); ``--hyperparams KEY=VALUE`` still overrides it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from controllers.errors import ControllerError


def read_hyperparams_file(path: str | Path) -> dict[str, Any]:
    """The mapping in ``path``; ControllerError naming the file (and line) if it is not one."""
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise ControllerError(f"{path}: --hyperparams-file: cannot read ({err.strerror})") from None
    try:
        params = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ControllerError(f"{path}{line}: not valid YAML") from None
    if not isinstance(params, dict) or not all(isinstance(k, str) for k in params):
        raise ControllerError(f"{path}:1: expected a mapping of hyperparameter names to values")
    return params
