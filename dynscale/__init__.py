"""dynscale: runtime performance scaling of a dynamic DNN on heterogeneous embedded boards.

This package is the command line only; the work lives in the packages it calls:
``dnn``, ``platform_models``, ``traces``, ``envs``, ``controllers`` and ``hw_agents``.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
