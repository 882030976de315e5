"""dnn: the dynamic DNN, a group-convolution AlexNet whose channel groups are trained incrementally
and dropped or added back at run time (``set_active_groups(k)``, O(1))."""

from dnn.arch import ARCHS, CONNECTIVITIES
from dnn.checkpoint import CheckpointInfo, load_checkpoint, save_checkpoint
from dnn.cost import Cost, count_cost
from dnn.errors import DNNError
from dnn.model import DynamicNet, build_model
from dnn.static import build_static, static_from_dynamic

__all__ = [
    "ARCHS",
    "CONNECTIVITIES",
    "CheckpointInfo",
    "Cost",
    "DNNError",
    "DynamicNet",
    "build_model",
    "build_static",
    "count_cost",
    "load_checkpoint",
    "save_checkpoint",
    "static_from_dynamic",
]
