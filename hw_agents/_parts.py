"""What a backend found on a board: its PEs with their frequency controls, rails, thermal zones.

Each backend (``_xu3``, ``_nano``, ``_linux``) fills one ``BoardParts``; the ``Board`` facade
works on it without knowing which board it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from hw_agents._rails import Rail
from hw_agents._sysfs import Missing, Writer


@dataclass(frozen=True)
class BoardPE:
    """A processing element the DNN can run on.

    Attributes:
        name: fixed per board ("a7", "a15", "gpu", "a57", "cpu").
        kind: "cpu" or "gpu".
        cpus: CPU ids of a CPU cluster; for a GPU, the CPUs its host thread may use.
        freqs_mhz: the frequency levels, ascending, in MHz.
    """

    name: str
    kind: str
    cpus: tuple[int, ...]
    freqs_mhz: tuple[float, ...]


class FreqControl(Protocol):
    """How a backend sets one PE's frequency."""

    mode: str  # "userspace" or "clamp"

    def files(self) -> list[Path]:
        """Every file ``apply`` may write."""

    def governor(self) -> str | None:
        """The governor now in charge, or None where there is none."""

    def apply(self, freq_mhz: float, write: Writer) -> None:
        """Set the PE to ``freq_mhz`` (one of its levels), writing through ``write``."""


@dataclass
class BoardParts:
    """Everything a backend discovered; ``missing`` lists each (file, why) it looked for in vain."""

    pes: list[BoardPE] = field(default_factory=list)
    controls: dict[str, FreqControl | None] = field(default_factory=dict)
    rails: list[Rail] = field(default_factory=list)
    thermal_zones: dict[str, Path] = field(default_factory=dict)
    # Files a session writes "1" to before reading power (INA231 ``enable`` found off, on the XU3).
    sensor_enables: list[Path] = field(default_factory=list)
    # Sensor refresh period in s where the sensor states one (INA231 ``update_period``).
    sensor_period_s: float | None = None
    missing: Missing = field(default_factory=list)
