"""Whose machine a measured table describes: this one, or another.

A measured platform (``dynscale profile``) holds what one machine did: its CPU model (provenance
``cpu_model``), each PE's cores and frequency levels. The shipped ``host`` platform is an example
measured on one development VM; on any other machine its latencies are another machine's (on an
AMD EPYC VM its agent took 4.3 ms per frame against the table's 1.10). A calibration
(``dynscale profile --calibrate``) records the machine it ran on (``calibration.machine``), and from
then on the table is that machine's. A derived table describes a board model, no machine: it is
never "another machine's" (calibrate it to correct its speed, but nothing here can tell it is off).

This machine is what ``board probe`` sees: the ``model name`` of ``/proc/cpuinfo`` under the board's
root, each PE's CPUs and frequency levels. A PE whose clock is not settable reports the one level the
kernel gives, which moves a little on some machines: its top level counts as the same within
``UNSET_FREQ_TOLERANCE``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hw_agents.provenance import cpu_model

__all__ = ["machine_of", "other_machine", "other_machine_line"]

UNSET_FREQ_TOLERANCE = 0.05
"""Relative difference of a non-settable PE's reported top frequency still read as the same clock."""


def machine_of(board: Any) -> dict[str, Any]:
    """This machine as a calibration records it: CPU model, and per PE its cores and levels (MHz)."""
    return {
        "cpu_model": cpu_model(board.sysfs_root),
        "pes": {pe.name: {"cores": len(pe.cpus), "freqs_mhz": [float(f) for f in pe.freqs_mhz]}
                for pe in board.pes},
    }


def other_machine(board: Any, platform: Any) -> list[str]:
    """What differs between the machine ``platform``'s table was measured (or last calibrated) on and
    this one, as short phrases ("CPU model Intel Xeon, here AMD EPYC"); [] when it is this machine's
    or a derived table."""
    recorded = _recorded_machine(platform)
    if recorded is None:
        return []
    here = machine_of(board)
    differences = []
    if recorded["cpu_model"] not in ("unknown", here["cpu_model"]):
        differences.append(f"CPU {recorded['cpu_model']!r}, here {here['cpu_model']!r}")
    for name, then in recorded["pes"].items():
        now = here["pes"].get(name)
        if now is None:
            differences.append(f"PE {name} absent here")
            continue
        if then["cores"] != now["cores"]:
            differences.append(f"{name} {then['cores']} cores, here {now['cores']}")
        if not _same_levels(then["freqs_mhz"], now["freqs_mhz"], board.freq_control.get(name) is None):
            then_mhz, now_mhz = _levels(then["freqs_mhz"]), _levels(now["freqs_mhz"])
            differences.append(f"{name} at {then_mhz} MHz, here {now_mhz}")
    return differences


def other_machine_line(board: Any, platform: Any, differences: list[str]) -> str:
    """One line: the table is another machine's, what differs, and the two fixes."""
    from platform_models.store import DATA_DIR

    shipped = Path(platform.path).resolve().parent == DATA_DIR
    which = platform.name if shipped else platform.path
    return (f"platform {platform.name} ({platform.path}) was measured on another machine "
            f"({'; '.join(differences)}): its latencies are not this machine's; run `dynscale profile "
            f"--board {board.name} --calibrate {which} --out DIR` (about a minute) or a full `dynscale "
            f"profile --board {board.name} --out DIR`, then pass --platform DIR/{platform.name}.yaml")


def _recorded_machine(platform: Any) -> dict[str, Any] | None:
    provenance = platform.descriptor["provenance"]
    calibration = provenance.get("calibration")
    if isinstance(calibration, dict) and "machine" in calibration:
        return calibration["machine"]
    if platform.provenance_kind != "measured":
        return None
    return {
        "cpu_model": str(provenance.get("cpu_model", "unknown")),
        "pes": {pe.name: {"cores": pe.n_cores, "freqs_mhz": [float(f) for f in pe.freqs_mhz]}
                for pe in platform.pes if pe.kind == "cpu"},
    }


def _same_levels(then: list[float], now: list[float], reported_only: bool) -> bool:
    if reported_only:  # one reported level: the same clock within the tolerance
        return bool(then and now) and abs(max(now) - max(then)) <= UNSET_FREQ_TOLERANCE * max(then)
    return {round(f, 3) for f in then} == {round(f, 3) for f in now}


def _levels(freqs_mhz: list[float]) -> str:
    shown = [f"{f:g}" for f in freqs_mhz]
    return "/".join(shown) if len(shown) <= 3 else f"{shown[0]}..{shown[-1]} ({len(shown)} levels)"
