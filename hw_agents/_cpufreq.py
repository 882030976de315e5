"""CPU frequency through cpufreq: the policies a kernel exposes, and setting one frequency on them.

Layouts (torvalds/linux Documentation/admin-guide/pm/cpufreq.rst): kernels >= 4.x have
``cpu/cpufreq/policyN/``; older ones (the Odroid XU3's Hardkernel 3.10) only ``cpu/cpuN/cpufreq/``,
one per CPU, the CPUs of a cluster sharing a clock (``related_cpus``). Frequencies are kHz there
and MHz here, converted at the read.

Control: with the ``userspace`` governor, write it to ``scaling_governor`` then the kHz value to
``scaling_setspeed``; otherwise clamp ``scaling_min_freq = scaling_max_freq = f``, written in the
order that keeps min <= max at every step (raising: max first; lowering: min first).

Kernel rules this module enforces itself, before writing, exactly as cpufreq refuses with EINVAL
(so a fake tree of plain files behaves as the kernel would): ``scaling_setspeed`` only while the
governor is ``userspace``; ``scaling_min_freq`` never above ``scaling_max_freq`` and vice versa.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hw_agents._parts import BoardParts, BoardPE
from hw_agents._sysfs import Missing, Sysfs, Writer, read_cpu_list, read_int, read_ints, read_text
from hw_agents.errors import BoardError

USERSPACE = "userspace"
CLAMP = "clamp"


@dataclass(frozen=True)
class CpuPolicy:
    """One cpufreq policy: a set of CPUs sharing one clock."""

    dir: Path
    cpus: tuple[int, ...]
    freqs_khz: tuple[int, ...]
    governors: tuple[str, ...]

    @property
    def freqs_mhz(self) -> tuple[float, ...]:
        """The levels in MHz."""
        return tuple(khz / 1000 for khz in self.freqs_khz)

    @property
    def governor(self) -> str:
        """The governor now in charge (read at each call)."""
        return read_text(self.dir / "scaling_governor")


def find_policies(fs: Sysfs, missing: Missing, freq_table: Callable[[tuple[int, ...]], Path] | None = None
                  ) -> list[CpuPolicy]:
    """Every distinct cpufreq policy under the root, in CPU order.

    Args:
        fs: the tree.
        missing: (path, why) is appended for each file looked for and not found or not readable.
        freq_table: for kernels without ``scaling_available_frequencies`` (XU3 3.10), a function
            from a policy's CPUs to the file listing its frequencies in kHz.
    """
    cpu_dir = fs.path("sys/devices/system/cpu")
    dirs = fs.glob("sys/devices/system/cpu/cpufreq/policy*")
    if not dirs:
        cpus = fs.glob("sys/devices/system/cpu/cpu[0-9]*")
        dirs = [d / "cpufreq" for d in cpus if (d / "cpufreq").is_dir()]
    if not dirs:
        missing.append((str(cpu_dir / "cpufreq"), "no cpufreq policy (cpufreq absent in this kernel)"))
        return []
    policies: dict[tuple[int, ...], CpuPolicy] = {}
    for directory in dirs:
        policy = _read_policy(directory, missing, freq_table)
        if policy is not None and policy.cpus not in policies:
            policies[policy.cpus] = policy
    return sorted(policies.values(), key=lambda p: p.cpus)


def _read_policy(directory: Path, missing: Missing, freq_table: Callable[[tuple[int, ...]], Path] | None
                 ) -> CpuPolicy | None:
    cpus_file = directory / "related_cpus"
    if not cpus_file.exists():
        cpus_file = directory / "affected_cpus"
    try:
        cpus = read_cpu_list(cpus_file)
    except BoardError as err:
        missing.append((str(cpus_file), err.reason))
        return None
    freqs = _read_freqs(directory, cpus, missing, freq_table)
    governors: tuple[str, ...] = ()
    governors_file = directory / "scaling_available_governors"
    try:
        governors = tuple(read_text(governors_file).split())
    except BoardError as err:
        missing.append((str(governors_file), err.reason))
    return CpuPolicy(directory, cpus, freqs, governors)


def _read_freqs(directory: Path, cpus: tuple[int, ...], missing: Missing,
                freq_table: Callable[[tuple[int, ...]], Path] | None) -> tuple[int, ...]:
    candidates = [directory / "scaling_available_frequencies"]
    if freq_table is not None:
        candidates.append(freq_table(cpus))
    for path in candidates:
        if path.exists():
            try:
                return tuple(sorted(set(read_ints(path))))
            except BoardError as err:
                missing.append((str(path), err.reason))
    missing.append((str(candidates[0]), "absent: driver without a frequency table (e.g. intel_pstate); "
                    "levels from cpuinfo_min_freq..cpuinfo_max_freq in 100 MHz steps"))
    try:
        low, high = read_int(directory / "cpuinfo_min_freq"), read_int(directory / "cpuinfo_max_freq")
    except BoardError as err:
        missing.append((str(directory / "cpuinfo_max_freq"), err.reason))
        return ()
    step_khz = 100_000
    inner = range((low // step_khz + 1) * step_khz, high, step_khz)
    return (low, *inner, high) if high > low else (low,)


class CpufreqControl:
    """Sets one frequency on a PE's policies (all of them, e.g. a host's per-CPU policies).

    Args:
        policies: the PE's policies; the mode is ``userspace`` only if every one offers it.
    """

    def __init__(self, policies: list[CpuPolicy]) -> None:
        self.policies = policies
        has_userspace = all(USERSPACE in p.governors and (p.dir / "scaling_setspeed").exists()
                            for p in policies)
        self.mode = USERSPACE if has_userspace else CLAMP

    def files(self) -> list[Path]:
        """Every file ``apply`` may write (checked for permission at start-up)."""
        names = ("scaling_governor", "scaling_setspeed") if self.mode == USERSPACE else (
            "scaling_min_freq", "scaling_max_freq")
        return [p.dir / name for p in self.policies for name in names]

    def governor(self) -> str | None:
        """The governor of the PE's policies ("a, b" if they differ)."""
        return ", ".join(dict.fromkeys(p.governor for p in self.policies))

    def apply(self, freq_mhz: float, write: Writer) -> None:
        """Run every policy of the PE at ``freq_mhz``, writing through ``write`` (saves, verifies)."""
        freq_khz = round(freq_mhz * 1000)
        for policy in self.policies:
            if self.mode == USERSPACE:
                if policy.governor != USERSPACE:
                    write(policy.dir / "scaling_governor", USERSPACE)
                _set_setspeed(policy.dir, freq_khz, write)
            else:
                set_min_max(policy.dir / "scaling_min_freq", policy.dir / "scaling_max_freq", freq_khz, write)


def add_cluster(parts: BoardParts, fs: Sysfs, name: str, cpus: tuple[int, ...],
                policy: CpuPolicy | None) -> None:
    """Add the CPU-cluster PE ``name``; without its policy it has no levels and no control (noted)."""
    if policy is None:
        parts.missing.append((str(fs.path("sys/devices/system/cpu/cpufreq")),
                              f"no cpufreq policy for cpus {cpus[0]}-{cpus[-1]}: PE {name} not settable"))
    parts.pes.append(BoardPE(name, "cpu", cpus, policy.freqs_mhz if policy else ()))
    parts.controls[name] = CpufreqControl([policy]) if policy else None


def common_freqs_mhz(policies: list[CpuPolicy]) -> tuple[float, ...]:
    """The levels every policy offers, in MHz (a host's per-CPU policies normally agree)."""
    if not policies:
        return ()
    common = set(policies[0].freqs_khz).intersection(*(p.freqs_khz for p in policies[1:]))
    return tuple(khz / 1000 for khz in sorted(common))


def _set_setspeed(directory: Path, freq_khz: int, write: Writer) -> None:
    governor = read_text(directory / "scaling_governor")
    if governor != USERSPACE:
        # cpufreq's store_scaling_setspeed() returns -EINVAL without a setspeed governor.
        raise BoardError(f"refused: governor is {governor!r}, not 'userspace'",
                         path=directory / "scaling_setspeed")
    write(directory / "scaling_setspeed", str(freq_khz))


def set_min_max(min_file: Path, max_file: Path, value: int, write: Writer) -> None:
    """Clamp a min/max pair to ``value``, keeping min <= max after each write.

    Shared by cpufreq (kHz) and devfreq (Hz): both kernels refuse (EINVAL) a min above the max
    (devfreq.c ``min_freq_store`` before 5.x; cpufreq ``cpufreq_set_policy``), and this function
    refuses the same before writing.
    """
    order = (max_file, min_file) if value > read_int(max_file) else (min_file, max_file)
    for path in order:
        if path == min_file and value > read_int(max_file):
            raise BoardError(f"refused: min {value} above max {read_int(max_file)}", path=path)
        if path == max_file and value < read_int(min_file):
            raise BoardError(f"refused: max {value} below min {read_int(min_file)}", path=path)
        if read_int(path) != value:
            write(path, str(value))
