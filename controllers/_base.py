"""The controller: what picks the configuration (groups k, PE, frequency) of the next inference.

Every controller answers ``act(observation, info=None)`` with an index into ``platform.configs()``
and forgets its history on ``reset()``. The base class checks the observation once and hands it to
each controller's ``_act`` hook; heuristics read it back in board units with ``self.view(obs)``.
Only numpy and ``platform_models`` are imported here, so the board can run every controller that
derives from this class.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from controllers.errors import ControllerError
from platform_models.observation import ObservationSpec, ObservationView


class Controller:
    """Base of every controller: ``act`` validates, ``_act`` decides."""

    name: str = "controller"

    def __init__(self, platform: Any) -> None:
        self.platform = platform
        self.configs = tuple(platform.configs())
        self.spec = ObservationSpec(platform)
        self._action_of = {c: i for i, c in enumerate(self.configs)}

    def reset(self) -> None:
        """Forget everything seen so far (a new episode or a new run on the board)."""

    def act(self, observation: np.ndarray, info: dict | None = None) -> int:
        """The index into ``platform.configs()`` of the configuration for the next inference."""
        obs = np.asarray(observation, dtype=np.float32)
        if obs.shape != (self.spec.size,):
            raise ControllerError(
                f"{self.name}: observation: expected shape ({self.spec.size},) for platform "
                f"'{self.platform.name}', got {obs.shape}"
            )
        return int(self._act(obs, info))

    def _act(self, obs: np.ndarray, info: dict | None) -> int:
        raise NotImplementedError

    def view(self, obs: np.ndarray) -> ObservationView:
        """The observation in board units (ms, W, mJ, busy cores, MHz)."""
        return self.spec.decode(obs)

    def action(self, groups: int, pe: str, freq_mhz: float) -> int:
        """The action index of one configuration (ControllerError if the platform has none such)."""
        for config, index in self._action_of.items():
            if config.groups == groups and config.pe == pe and config.freq_mhz == freq_mhz:
                return index
        raise ControllerError(
            f"{self.platform.name}: no configuration groups={groups} pe={pe} freq_mhz={freq_mhz}"
        )


def fastest_pe(platform: Any) -> str:
    """The PE with the lowest latency for the full network at its top frequency with all cores free."""
    groups = platform.groups

    def full_speed_latency_ms(pe: Any) -> float:
        return platform.latency_ms(pe.name, max(pe.freqs_mhz), pe.n_cores, groups)

    return min(platform.pes, key=full_speed_latency_ms).name
