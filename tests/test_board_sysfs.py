"""Reading sysfs values: CPU lists and number lists round-trip; bad text raises our error, nothing else.

Also the permission rule on this machine's real, read-only /sys and /proc: a kernel attribute
without a store method is unwritable even to root, and the board must see that.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hw_agents._sysfs import can_read, can_write, read_cpu_list, read_ints
from hw_agents.errors import BoardError, SysfsFormatError

cpu_sets = st.sets(st.integers(min_value=0, max_value=511), min_size=1, max_size=64)


def kernel_cpu_list(cpus: set[int]) -> str:
    """The kernel's cpulist format ("0-3,8,10-11"), as /sys/devices/system/cpu/online prints it."""
    ordered, ranges = sorted(cpus), []
    start = previous = ordered[0]
    for cpu in [*ordered[1:], None]:
        if cpu is not None and cpu == previous + 1:
            previous = cpu
            continue
        ranges.append(str(start) if start == previous else f"{start}-{previous}")
        if cpu is not None:
            start = previous = cpu
    return ",".join(ranges)


@settings(max_examples=30, deadline=None)
@given(cpus=cpu_sets, spaced=st.booleans())
def test_cpu_list_round_trip(tmp_path_factory, cpus, spaced):
    path = tmp_path_factory.mktemp("cpus") / "related_cpus"
    # related_cpus prints "4 5 6 7"; online prints "0-3,8".
    path.write_text((" ".join(map(str, sorted(cpus))) if spaced else kernel_cpu_list(cpus)) + "\n")
    assert read_cpu_list(path) == tuple(sorted(cpus))


@settings(max_examples=30, deadline=None)
@given(freqs=st.lists(st.integers(min_value=0, max_value=4_000_000_000), max_size=30))
def test_frequency_list_round_trip(tmp_path_factory, freqs):
    path = tmp_path_factory.mktemp("freqs") / "scaling_available_frequencies"
    path.write_text(" ".join(map(str, freqs)) + " \n")
    assert read_ints(path) == tuple(freqs)


@settings(max_examples=40, deadline=None)
@given(text=st.text(st.characters(codec="ascii", exclude_characters="\0"), max_size=30))
def test_bad_text_raises_our_error_only(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("bad") / "related_cpus"
    path.write_text(text)
    for parse in (read_cpu_list, read_ints):
        try:
            parse(path)
        except SysfsFormatError as err:
            assert str(err).startswith(f"{path}:1: expected ")
            assert "\n" not in str(err)


def test_absent_file_names_it(tmp_path):
    with pytest.raises(BoardError, match=r"/nope: file absent$"):
        read_ints(tmp_path / "nope")


@pytest.mark.skipif(not Path("/sys/devices/system/cpu/online").exists(), reason="no sysfs here")
def test_real_read_only_attributes_are_unwritable_even_to_root():
    online = Path("/sys/devices/system/cpu/online")
    assert can_read(online)
    assert not can_write(online), f"uid {os.geteuid()}: a 0444 kernel attribute must count as unwritable"
    assert not can_write(Path("/proc/cpuinfo"))
    assert read_cpu_list(online)
