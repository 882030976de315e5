"""The (k, PE, frequency) action as three numbers instead of one index: ``MultiDiscreteAction``.

Some algorithms and policies prefer a factored action. The wrapper's space is
``MultiDiscrete([G, n_pes, max frequencies of any PE])``: groups index (k - 1), PE index
(descriptor order), frequency index (ascending). A frequency index past a PE's own list (PEs with
fewer DVFS levels than the longest list) means that PE's highest frequency. Every triple maps to
a valid configuration, so no combination is invalid.

Masks (sb3-contrib's MultiDiscrete convention: one flat bool array of length ``sum(nvec)``, per
dimension): every k and every frequency index allowed; a PE allowed where the wrapped env's mask
allows any of its configurations. Masks cannot couple the dimensions (sb3-contrib issues #16, #242);
use the flat ``Discrete`` env where they must.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class MultiDiscreteAction(gym.ActionWrapper):
    """Expose a ``DynamicDNNEnv`` with a ``MultiDiscrete`` (k index, PE index, frequency index) action.

    Args:
        env: a ``DynamicDNNEnv`` (possibly wrapped).
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        platform = env.unwrapped.platform
        groups = platform.groups
        n_freqs = [len(pe.freqs_mhz) for pe in platform.pes]
        self.action_space = spaces.MultiDiscrete([groups, len(platform.pes), max(n_freqs)])
        flat = {(c.groups - 1, p, f): i for i, (c, p, f) in enumerate(
            zip(platform.configs(), platform.config_pe_index.tolist(), platform.config_freq_index.tolist(),
                strict=True))}
        self._flat_index = np.zeros(tuple(self.action_space.nvec), dtype=np.int64)
        for k in range(groups):
            for p, n in enumerate(n_freqs):
                for f in range(max(n_freqs)):
                    self._flat_index[k, p, f] = flat[(k, p, min(f, n - 1))]
        self._pe_of_action = platform.config_pe_index
        self._n_pes = len(platform.pes)

    def action(self, action: Any) -> int:
        """The flat ``Discrete`` action of a (k index, PE index, frequency index) triple."""
        k, p, f = (int(x) for x in action)
        return int(self._flat_index[k, p, f])

    def action_masks(self) -> np.ndarray:
        """Per-dimension masks, concatenated (length ``sum(nvec)``)."""
        flat_mask = self.env.unwrapped.action_masks()
        pe_ok = np.bincount(self._pe_of_action[flat_mask], minlength=self._n_pes) > 0
        nvec = self.action_space.nvec
        return np.concatenate([np.ones(nvec[0], dtype=bool), pe_ok, np.ones(nvec[2], dtype=bool)])
