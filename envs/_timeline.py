"""The env's ``rgb_array`` render: the run's recent frames drawn as an image with numpy alone.

One column per frame, newest on the right. From the top: the latency over its latency budget as a
bar (green when every budget was met, red when not; the budget itself is the grey line at half the
bar area's height, so a bar reaching the top is twice over), then a band coloured by the PE the
frame ran on, then a band whose grey level is the groups k (black: 1, white: G). Drawing with numpy
keeps matplotlib out of a vectorised env's workers.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

TIMELINE_WIDTH = 256
"""Frames shown (one pixel column each)."""
TIMELINE_HEIGHT = 128
BAR_HEIGHT = 96
PE_BAND = 16
LATENCY_SHOWN_MAX = 2.0
"""Latency / budget at the top of the bar area; the budget line sits at 1.0 (half height)."""

BACKGROUND = (255, 255, 255)
BUDGET_LINE = (128, 128, 128)
MET = (46, 160, 67)
MISSED = (218, 54, 51)
PE_COLOURS = ((31, 119, 180), (255, 127, 14), (148, 103, 189), (140, 86, 75), (23, 190, 207))


class Timeline:
    """The last ``TIMELINE_WIDTH`` frames' latency ratio, verdict, PE and k, and their image."""

    def __init__(self, groups: int) -> None:
        self.groups = groups
        self._frames: deque[tuple[float, bool, int, int]] = deque(maxlen=TIMELINE_WIDTH)

    def clear(self) -> None:
        self._frames.clear()

    def add(self, info: dict[str, Any], p: int) -> None:
        """Record one step's ``info`` (the env's) that ran on PE index ``p``."""
        budget = info["latency_budget_ms"]
        # A frame without a latency budget has nothing to be over: its bar stands at the budget line.
        ratio = info["latency_ms"] / budget if np.isfinite(budget) and budget > 0 else 1.0
        self._frames.append((float(ratio), bool(info["budget_met"]), p, int(info["groups"])))

    def image(self) -> np.ndarray:
        """The timeline as a ``TIMELINE_HEIGHT`` x ``TIMELINE_WIDTH`` x 3 ``uint8`` array."""
        frame = np.empty((TIMELINE_HEIGHT, TIMELINE_WIDTH, 3), dtype=np.uint8)
        frame[:] = BACKGROUND
        offset = TIMELINE_WIDTH - len(self._frames)
        for column, (ratio, met, p, k) in enumerate(self._frames, start=offset):
            height = round(min(ratio, LATENCY_SHOWN_MAX) / LATENCY_SHOWN_MAX * BAR_HEIGHT)
            frame[BAR_HEIGHT - height:BAR_HEIGHT, column] = MET if met else MISSED
            frame[BAR_HEIGHT:BAR_HEIGHT + PE_BAND, column] = PE_COLOURS[p % len(PE_COLOURS)]
            frame[BAR_HEIGHT + PE_BAND:, column] = round(255 * (k - 1) / max(self.groups - 1, 1))
        frame[BAR_HEIGHT // 2, :] = BUDGET_LINE  # over the bars, so that it shows through them
        return frame
