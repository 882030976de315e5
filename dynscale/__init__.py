"""dynscale: runtime performance scaling of a dynamic DNN on heterogeneous embedded boards.

This package is the command line only; the work lives in the packages it calls:
``dnn``, ``platform_models``, ``traces``, ``envs``, ``controllers`` and ``hw_agents``.
"""

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    # The version is read on first use: this file runs before ``python -m dynscale`` can catch a
    # Ctrl-C, so it imports nothing (reading the installed metadata takes a while on a loaded board).
    if name == "__version__":
        from platform_models.version import __version__

        return __version__
    raise AttributeError(f"module 'dynscale' has no attribute {name!r}")
