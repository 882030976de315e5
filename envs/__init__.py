"""envs: the SoC running the dynamic DNN, simulated with SimPy, behind the Gymnasium API.

``import envs`` registers ``dynscale/DynamicDNN-v0`` (see :mod:`envs.dynamic_dnn` for its manual).
"""

from envs._reward import reward
from envs.dynamic_dnn import DynamicDNNEnv
from envs.errors import EnvError
from envs.registration import ENV_ID, register_envs
from envs.wrappers import MultiDiscreteAction

register_envs()

__all__ = ["ENV_ID", "DynamicDNNEnv", "EnvError", "MultiDiscreteAction", "register_envs", "reward"]
