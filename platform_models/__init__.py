"""Platform models: latency and power of the dynamic DNN per (PE, frequency, cores, groups).

A platform is a descriptor (YAML) and a table (CSV), measured by the profiler or derived from
public board constants (docs/formats.md). numpy and PyYAML only, so it also runs on the boards.

The names below load on first use: importing a light module of this package (``errors``,
``version``) costs no numpy, so the command line starts fast and a Ctrl-C in its first second
finds the program's own handler rather than numpy's import machinery.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> the module that defines it
_EXPORTS = {
    "Allocation": "contention",
    "Contention": "contention",
    "LoadedMetrics": "contention",
    "dnn_threads": "contention",
    "CONTENTION_MODELS": "descriptor",
    "PE": "descriptor",
    "Descriptor": "descriptor",
    "PlatformError": "errors",
    "Config": "model",
    "ConfigMetrics": "model",
    "PlatformModel": "model",
    "OBSERVATION_VERSION": "observation",
    "ObservationSpec": "observation",
    "ObservationView": "observation",
    "load_platform": "store",
    "save_platform": "store",
    "shipped_platforms": "store",
    "validate_platform": "store",
    "COLUMNS": "table",
}
__all__ = sorted(_EXPORTS)

def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'platform_models' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"platform_models.{module}"), name)
    globals()[name] = value  # once loaded, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
