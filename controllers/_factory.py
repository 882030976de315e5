"""``make_controller``: one name or path in, one controller out.

Heuristics and the exported-policy runner are built from numpy code; the oracle needs the
simulated environment and a run folder needs stable-baselines3, both imported only on that path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from controllers._base import Controller
from controllers._governors import RULES, GovernorController
from controllers._lookup import AdaptiveLookupController, LookupController
from controllers._policy import PolicyController, shipped_policy
from controllers._reactive import ReactiveController
from controllers._runs import is_run_dir
from controllers._static import parse_static
from controllers.errors import ControllerError

HEURISTICS = ("static", *RULES, "reactive", "lookup", "lookup-adaptive")
"""Controller names that need neither the simulator nor a trained model."""
LEARNED = "learned"
"""The shipped policy of the platform (``controllers/policies/<platform>.npz``), numpy only."""


def make_controller(spec: str, platform: Any, env: Any = None) -> Controller:
    """Build a controller for ``platform`` (a PlatformModel, shipped name or descriptor path).

    Args:
        spec: a heuristic name (``static[:K[:PE[:FREQ_MHZ]]]``, performance, powersave, ondemand,
            schedutil, reactive, lookup, lookup-adaptive), ``learned`` (the platform's shipped policy),
            ``oracle`` (needs ``env``), a ``dynscale train`` run folder (needs stable-baselines3) or
            an exported policy ``.npz`` (numpy only).
        platform: the platform the controller picks configurations of.
        env: the simulated environment, for the oracle and for the governors' frame period.

    Raises:
        ControllerError: an unknown name, or a run folder / policy for another platform or layout.
    """
    if isinstance(platform, (str, Path)):
        from platform_models import load_platform

        platform = load_platform(platform)
    name = spec.strip()
    if name == "static" or name.startswith("static:"):
        return parse_static(name, platform)
    if name in RULES:
        return GovernorController(platform, name, env)
    if name == "reactive":
        return ReactiveController(platform)
    if name == "lookup":
        return LookupController(platform)
    if name == "lookup-adaptive":
        return AdaptiveLookupController(platform)
    if name == LEARNED:
        return PolicyController(platform, shipped_policy(platform.name))
    if name == "oracle":
        from controllers._oracle import OracleController

        return OracleController(platform, env)
    if is_run_dir(name):
        from controllers._learned import LearnedController

        return LearnedController(platform, name)
    if name.endswith(".npz"):
        return PolicyController(platform, name)
    if name.endswith(".onnx"):
        from controllers._onnx import OnnxPolicyController

        return OnnxPolicyController(platform, name)
    if Path(name).is_dir():
        raise ControllerError(f"{name}/config.yml: no such file (is {name} a 'dynscale train' run folder?)")
    raise ControllerError(
        f"controller '{name}': unknown; expected one of {', '.join(HEURISTICS)}, learned, oracle, "
        "a run folder or an exported policy .npz or .onnx"
    )
