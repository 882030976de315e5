"""Platform models: latency and power of the dynamic DNN per (PE, frequency, cores, groups).

A platform is a descriptor (YAML) and a table (CSV), measured by the profiler or derived from
public board constants (docs/formats.md). numpy and PyYAML only, so it also runs on the boards.
"""

from platform_models.contention import Allocation, Contention, LoadedMetrics, dnn_threads
from platform_models.descriptor import CONTENTION_MODELS, PE, Descriptor
from platform_models.errors import PlatformError
from platform_models.model import Config, ConfigMetrics, PlatformModel
from platform_models.observation import OBSERVATION_VERSION, ObservationSpec, ObservationView
from platform_models.store import load_platform, save_platform, shipped_platforms, validate_platform
from platform_models.table import COLUMNS

__all__ = [
    "COLUMNS",
    "CONTENTION_MODELS",
    "OBSERVATION_VERSION",
    "PE",
    "Allocation",
    "Config",
    "ConfigMetrics",
    "Contention",
    "Descriptor",
    "LoadedMetrics",
    "ObservationSpec",
    "ObservationView",
    "PlatformError",
    "PlatformModel",
    "dnn_threads",
    "load_platform",
    "save_platform",
    "shipped_platforms",
    "validate_platform",
]
