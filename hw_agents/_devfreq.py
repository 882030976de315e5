"""Device frequency through devfreq (a GPU's clock): the node of a device, and clamping it.

``/sys/class/devfreq/NAME`` links to the device's node (Nano: ``/sys/devices/gpu.0/devfreq/
57000000.gpu`` or ``/sys/devices/57000000.gpu/devfreq/57000000.gpu`` by L4T release; XU3 4.14:
``/sys/devices/platform/11800000.mali/devfreq/devfreq0``), so nodes are found through the class
and matched on the device they resolve to. Files (Documentation/ABI/testing/sysfs-class-devfreq):
``available_frequencies``, ``min_freq``, ``max_freq``, ``governor``, all in Hz. A frequency is
fixed by ``min_freq = max_freq = f`` in the order that keeps min <= max (``_cpufreq.set_min_max``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hw_agents._cpufreq import CLAMP, set_min_max
from hw_agents._sysfs import Missing, Sysfs, Writer, read_ints, read_text
from hw_agents.errors import BoardError


@dataclass(frozen=True)
class DevfreqNode:
    """A devfreq node: its directory and the frequencies it offers (Hz, ascending)."""

    dir: Path
    freqs_hz: tuple[int, ...]


def find_devfreq(fs: Sysfs, missing: Missing, matches: Callable[[Path], bool],
                 what: str) -> DevfreqNode | None:
    """The first devfreq node whose resolved device path ``matches``, or None (noted in ``missing``)."""
    for entry in fs.glob("sys/class/devfreq/*"):
        if not matches(entry.resolve()):
            continue
        freqs_file = entry / "available_frequencies"
        try:
            return DevfreqNode(entry, tuple(sorted(set(read_ints(freqs_file)))))
        except BoardError as err:
            missing.append((str(freqs_file), err.reason))
            return None
    missing.append((str(fs.path("sys/class/devfreq")), f"no devfreq node for {what}"))
    return None


class MinMaxControl:
    """Fixes a clock by clamping a min/max file pair to one value (``mode`` "clamp").

    Args:
        min_file: the lower bound's file.
        max_file: the upper bound's file.
        units_per_mhz: the files' unit per MHz (devfreq Hz: 1e6; XU3 3.10 Mali locks: 1).
        governor_file: the file naming the governor in charge, if any.
    """

    mode = CLAMP

    def __init__(self, min_file: Path, max_file: Path, units_per_mhz: float,
                 governor_file: Path | None) -> None:
        self.min_file, self.max_file = min_file, max_file
        self.units_per_mhz = units_per_mhz
        self.governor_file = governor_file

    def files(self) -> list[Path]:
        """The two files ``apply`` writes."""
        return [self.min_file, self.max_file]

    def governor(self) -> str | None:
        """The governor in charge, or None where the node names none."""
        return None if self.governor_file is None else read_text(self.governor_file)

    def apply(self, freq_mhz: float, write: Writer) -> None:
        """Clamp the pair to ``freq_mhz``."""
        set_min_max(self.min_file, self.max_file, round(freq_mhz * self.units_per_mhz), write)


def devfreq_control(node: DevfreqNode) -> MinMaxControl:
    """The control of a devfreq node: ``min_freq``/``max_freq`` in Hz."""
    return MinMaxControl(node.dir / "min_freq", node.dir / "max_freq", 1e6, node.dir / "governor")
