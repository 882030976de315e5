"""Registration of the environment's id with Gymnasium (``gymnasium.make("dynscale/DynamicDNN-v0")``).

``import envs`` registers it; so does the ``gymnasium.envs`` entry point declared in pyproject.toml
(``envs:register_envs``) for tools that load such plugins. Gymnasium 1.x itself loads no plugins, so
without an ``import envs`` use ``gymnasium.make("envs:dynscale/DynamicDNN-v0")``, which imports it.
"""

from __future__ import annotations

import gymnasium

ENV_ID = "dynscale/DynamicDNN-v0"


def register_envs() -> None:
    """Register ``ENV_ID`` (idempotent: a second call changes nothing)."""
    if ENV_ID not in gymnasium.registry:
        gymnasium.register(id=ENV_ID, entry_point="envs.dynamic_dnn:DynamicDNNEnv")
