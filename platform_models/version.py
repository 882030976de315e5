"""The tool's version, read once from the installed package's metadata (``pyproject.toml`` is where it
is set): here, below the command line and ``hw_agents``, so that both name it without one importing
the other."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("dynscale")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "unknown (not installed)"
