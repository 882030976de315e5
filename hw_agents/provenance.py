"""What a measured descriptor records of where and when it was measured: the tool and its version,
the CPU model, the load average."""

from __future__ import annotations

import contextlib
import platform as host_platform
from pathlib import Path

from platform_models.version import __version__

__all__ = ["cpu_model", "load_average", "tool"]


def tool(command: str) -> str:
    """The tool as a descriptor's provenance names it: ``dynscale VERSION (COMMAND)``."""
    return f"dynscale {__version__} ({command})"


def cpu_model() -> str:
    """This machine's CPU model (``/proc/cpuinfo``; else what Python's platform module says)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return host_platform.processor() or "unknown"


def load_average() -> str:
    """The 1, 5 and 15 min load averages, or "unknown"."""
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "unknown"
