"""The static controller: one fixed configuration for every inference, whatever happens (where the
action mask rules it out, the nearest allowed one: ``controllers._base.nearest_allowed``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from controllers._base import Controller, fastest_pe
from controllers.errors import ControllerError


class StaticController(Controller):
    """Always the same (groups, PE, frequency); by default the full network flat out on the fastest PE."""

    def __init__(
        self, platform: Any, groups: int | None = None, pe: str | None = None, freq_mhz: float | None = None
    ) -> None:
        super().__init__(platform)
        pe_name = pe or fastest_pe(platform)
        names = [p.name for p in platform.pes]
        if pe_name not in names:
            raise ControllerError(
                f"static: pe '{pe_name}': not a PE of {platform.name} (has {', '.join(names)})"
            )
        freq = max(platform.pe(pe_name).freqs_mhz) if freq_mhz is None else freq_mhz
        self._action = self.action(platform.groups if groups is None else groups, pe_name, freq)
        config = self.configs[self._action]
        self.name = f"static:{config.groups}:{config.pe}:{config.freq_mhz:g}"

    def _act(self, obs: np.ndarray, info: dict | None) -> int:
        return self.allowed(self._action, info)

    _rehearse = _act


def parse_static(spec: str, platform: Any) -> StaticController:
    """``static`` or ``static:K:PE:FREQ_MHZ`` (trailing parts may be left out)."""
    parts = spec.split(":")[1:]
    try:
        groups = int(parts[0]) if len(parts) > 0 and parts[0] else None
        freq = float(parts[2]) if len(parts) > 2 and parts[2] else None
    except ValueError:
        raise ControllerError(f"controller '{spec}': expected static[:K[:PE[:FREQ_MHZ]]]") from None
    pe = parts[1] if len(parts) > 1 and parts[1] else None
    return StaticController(platform, groups, pe, freq)
