"""The profiler's resume journal: every finished operating point appended (and flushed) to a CSV in
the output folder, so that an interrupted sweep resumes from it."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

JOURNAL_NAME = ".profile-journal.csv"
JOURNAL_COLUMNS = ("pe", "freq_mhz", "cores", "groups", "latency_ms_mean", "latency_ms_std",
                   "latency_ms_p95", "latency_n", "power_w_mean", "power_w_std", "background_cores",
                   "power_measured")


class Journal:
    """Finished points of one sweep, one CSV row each, flushed as they finish.

    The first line records the sweep's settings; a journal from another sweep is set aside
    (renamed ``*.stale``) rather than mixed in.
    """

    def __init__(self, path: Path, settings: dict[str, Any]) -> None:
        self.path = path
        self.settings_line = "# " + json.dumps(settings, sort_keys=True)

    def read(self) -> dict[tuple[str, float, int, int], dict[str, Any]]:
        if not self.path.exists():
            return {}
        lines = self.path.read_text().splitlines()
        if not lines or lines[0] != self.settings_line:
            os.replace(self.path, self.path.with_suffix(".stale"))
            return {}
        done = {}
        for row in csv.DictReader([lines[1], *_complete_lines(lines[2:])]):
            key = (row["pe"], float(row["freq_mhz"]), int(row["cores"]), int(row["groups"]))
            done[key] = {
                **{c: float(row[c]) for c in JOURNAL_COLUMNS[4:11]},
                "latency_n": int(row["latency_n"]),
                "power_measured": row["power_measured"] == "True",
            }
        return done

    def append(self, key: tuple[str, float, int, int], result: dict[str, Any]) -> None:
        """Add the point ``key`` (pe, freq_mhz, cores, groups) with its figures."""
        new = not self.path.exists()
        with self.path.open("a", newline="") as f:
            if new:
                f.write(self.settings_line + "\n" + ",".join(JOURNAL_COLUMNS) + "\n")
            values = [*key, *(result[c] for c in JOURNAL_COLUMNS[4:])]
            f.write(",".join(str(v) for v in values) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def _complete_lines(lines: list[str]) -> Iterator[str]:
    """The journal's lines without a last one cut short by a kill mid-write."""
    n_fields = len(JOURNAL_COLUMNS)
    for line in lines:
        if line.count(",") == n_fields - 1 and line.rsplit(",", 1)[-1] in ("True", "False"):
            yield line
