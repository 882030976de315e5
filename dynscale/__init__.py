"""dynscale: runtime performance scaling of a dynamic DNN on heterogeneous embedded boards.

This package is the command line only; the work lives in the packages it calls:
``dnn``, ``platform_models``, ``traces``, ``envs``, ``controllers`` and ``hw_agents``.
"""

from platform_models.version import __version__

__all__ = ["__version__"]
