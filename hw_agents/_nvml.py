"""An NVIDIA GPU on a Linux host, through NVML (``pip install nvidia-ml-py``, module ``pynvml``).

Imported lazily: without the package or the driver the host simply has no GPU, and ``missing``
says which. The first GPU becomes PE ``gpu`` with its supported graphics clocks as levels; its
power (``nvmlDeviceGetPowerUsage``, mW) is rail ``nvidia-gpuN``. Clocks are read, not set: NVML's
locked clocks need root and live in the driver, not in a file the journal could restore.
Never used on a Jetson (its iGPU answers NotSupported; the Nano has INA3221 rails instead).
"""

from __future__ import annotations

from pathlib import Path

from hw_agents._parts import BoardParts, BoardPE
from hw_agents._rails import CallableRail


def discover(parts: BoardParts) -> None:
    """Add the NVIDIA GPUs NVML sees to ``parts`` (PE ``gpu`` for the first one)."""
    try:
        import pynvml
    except ImportError:
        parts.missing.append(("pynvml", "not installed (pip install nvidia-ml-py): "
                              "NVIDIA GPUs not looked for"))
        return
    try:
        pynvml.nvmlInit()
        count = pynvml.nvmlDeviceGetCount()
    except pynvml.NVMLError as err:
        parts.missing.append(("nvml", f"no NVIDIA driver or GPU: {err}"))
        return
    host_cpus = parts.pes[0].cpus if parts.pes else ()
    for index in range(count):
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        source = Path(f"nvml:{index}")
        pe = "gpu" if index == 0 else None
        parts.rails.append(CallableRail(f"nvidia-gpu{index}", pe, source,
                                        lambda h=handle: pynvml.nvmlDeviceGetPowerUsage(h)))
        if index == 0:
            parts.pes.append(BoardPE("gpu", "gpu", host_cpus, _graphics_clocks_mhz(pynvml, handle)))
            parts.controls["gpu"] = None
            parts.missing.append((str(source), "clock control not offered (NVML locked clocks are not "
                                  "journalled); GPU clocks monitor-only"))


def _graphics_clocks_mhz(pynvml, handle) -> tuple[float, ...]:
    try:
        memory_mhz = max(pynvml.nvmlDeviceGetSupportedMemoryClocks(handle))
        clocks_mhz = pynvml.nvmlDeviceGetSupportedGraphicsClocks(handle, memory_mhz)
        return tuple(float(f) for f in sorted(clocks_mhz))
    except pynvml.NVMLError:
        return ()
