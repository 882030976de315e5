"""Controllers: what picks groups k, PE and frequency for every inference.

Heuristics (static, Linux governors, the reactive manager, the model-based lookup), the clairvoyant
oracle, and learned stable-baselines3 policies with their numpy export for the board. Importing this
package loads numpy and platform_models only; training, evaluation and the oracle load gymnasium,
simpy and stable-baselines3 when called.
"""

from controllers._base import Controller, fastest_pe, nearest_allowed
from controllers._evaluate import Evaluation, evaluate, replay
from controllers._factory import HEURISTICS, make_controller
from controllers._governors import ondemand, performance, powersave, schedutil, utilisation
from controllers._policy import PolicyController, read_policy
from controllers.errors import ControllerError

__all__ = [
    "HEURISTICS",
    "Controller",
    "ControllerError",
    "Evaluation",
    "PolicyController",
    "evaluate",
    "fastest_pe",
    "make_controller",
    "nearest_allowed",
    "ondemand",
    "performance",
    "powersave",
    "read_policy",
    "replay",
    "schedutil",
    "utilisation",
]
