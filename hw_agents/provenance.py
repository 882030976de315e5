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


def cpu_model(root: str | Path = "/") -> str:
    """The CPU model in ``<root>/proc/cpuinfo``: its first ``model name`` (x86), else ``Hardware`` or
    ``CPU part`` (ARM boards); else what Python's platform module says."""
    with contextlib.suppress(OSError):
        lines = (Path(root) / "proc/cpuinfo").read_text().splitlines()
        for key in ("model name", "Hardware", "CPU part"):
            for line in lines:
                # "model name\t: AMD EPYC"
                if line.split(":", 1)[0].strip() == key:
                    return line.split(":", 1)[1].strip()
    return host_platform.processor() or "unknown"


def load_average() -> str:
    """The 1, 5 and 15 min load averages, or "unknown"."""
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "unknown"
