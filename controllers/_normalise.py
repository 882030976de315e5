"""Observation normalisation of a learned policy: fixed statistics, stored with the run, numpy only.

The shared observation scales every budget by the platform's worst case, so a 20 ms budget on a
board whose slowest configuration takes seconds is 0.01, and the budgets that matter differ in the
third decimal: an MLP with default initialisation barely sees them. As VecNormalize does, each
entry is centred and scaled, ``clip((obs - mean) / sqrt(var + eps), -clip, clip)``, but with
statistics fitted once, before training, on the demonstration rollouts, and then frozen: the run's
``config.yml`` (``normalization``) and the exported policy carry them, and the board applies the
very same numbers. An entry that never varied keeps variance 1 (it is only centred).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

CLIP = 10.0
EPS = 1e-8


@dataclass(frozen=True)
class ObservationNormaliser:
    """Frozen per-entry mean and variance."""

    mean: np.ndarray
    var: np.ndarray
    clip: float = CLIP
    eps: float = EPS

    @classmethod
    def fit(cls, observations: np.ndarray) -> ObservationNormaliser:
        """Statistics of a batch (n, size) of raw observations."""
        obs = np.asarray(observations, dtype=np.float64)
        var = obs.var(axis=0)
        return cls(obs.mean(axis=0), np.where(var > 1e-12, var, 1.0))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ObservationNormaliser:
        """The inverse of :meth:`as_dict` (as stored in config.yml)."""
        return cls(
            np.asarray(data["mean"], dtype=np.float64),
            np.asarray(data["var"], dtype=np.float64),
            float(data["clip"]),
            float(data["eps"]),
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain lists and floats, for YAML."""
        return {
            "mean": [float(v) for v in self.mean],
            "var": [float(v) for v in self.var],
            "clip": self.clip,
            "eps": self.eps,
        }

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """Normalised observation(s), float32."""
        scaled = (np.asarray(obs, dtype=np.float64) - self.mean) / np.sqrt(self.var + self.eps)
        return np.clip(scaled, -self.clip, self.clip).astype(np.float32)
