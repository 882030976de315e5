"""dnn: the dynamic DNN, a group-convolution AlexNet whose channel groups are trained incrementally
and dropped or added back at run time (``set_active_groups(k)``, O(1))."""

from dnn.arch import ARCHS, CONNECTIVITIES
from dnn.cost import Cost, count_cost
from dnn.errors import DNNError
from dnn.model import DynamicNet, build_model

__all__ = ["ARCHS", "CONNECTIVITIES", "Cost", "DNNError", "DynamicNet", "build_model", "count_cost"]
