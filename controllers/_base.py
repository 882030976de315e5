"""The controller: what picks the configuration (groups k, PE, frequency) of the next inference.

Every controller answers ``act(observation, info=None)`` with an index into ``platform.configs()``
and forgets its history on ``reset()``; ``rehearse(observation, info=None)`` goes through the same
decision and changes nothing (the live agent's warm-up before each frame). The base class checks the
observation once and hands it to each controller's ``_act`` hook; heuristics read it back in board
units with ``self.view(obs)``. ``info["action_mask"]`` (bool per action, from the simulator or the
live agent), when given, names the configurations that may be taken; every controller picks among
them, and ``nearest_allowed`` is the common fallback from a configuration the mask rules out. Only
numpy and ``platform_models`` are imported here, so the board can run every controller that derives
from this class.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

import numpy as np

from controllers.errors import ControllerError
from platform_models.memo import Memo
from platform_models.observation import ObservationSpec, ObservationView

_NO_MASK: tuple[None, bytes] = (None, b"")
_FLOAT32 = np.dtype(np.float32)


class Controller:
    """Base of every controller: ``act`` validates, ``_act`` decides."""

    name: str = "controller"

    def __init__(self, platform: Any) -> None:
        self.platform = platform
        self.configs = tuple(platform.configs())
        self.spec = ObservationSpec(platform)
        self._action_of = {c: i for i, c in enumerate(self.configs)}
        self._masks = Memo(kept=256)  # distinct action masks (see ``_checked_mask``)
        self._mask_given: Any = None
        self._mask_checked = _NO_MASK
        # The last question a controller that decides from what it is asked alone answered, and its
        # answer: the live agent asks each frame's twice, rehearsing it just before it arrives and
        # then in the frame (see ``rehearse``), and the second asking then costs a comparison of bytes.
        self._last_question: tuple = ()
        self._last_answer: Any = None

    def reset(self) -> None:
        """Forget everything seen so far (a new episode or a new run on the board)."""

    def _answer(self, question: tuple, answer_of: Callable[[], Any]) -> Any:
        """The answer to ``question`` (everything the answer depends on): the last one again where it
        was the last question asked, else ``answer_of()``, kept with it."""
        if question != self._last_question:
            self._last_question, self._last_answer = question, answer_of()
        return self._last_answer

    def act(self, observation: np.ndarray, info: dict | None = None) -> int:
        """The index into ``platform.configs()`` of the configuration for the next inference."""
        return int(self._act(self._checked(observation), info))

    def rehearse(self, observation: np.ndarray, info: dict | None = None) -> int | None:
        """Go through the decision for ``observation`` without learning from it: the next ``act`` picks
        what it would have picked had this call not been made. The live agent rehearses just before a
        frame arrives, so that the frame's own decision finds its code and data in the caches (or, in a
        controller that keeps its last question and answer, the answer). Returns the action ``act``
        would pick for the same arguments (None where the controller does not rehearse)."""
        action = self._rehearse(self._checked(observation), info)
        return None if action is None else int(action)

    def _checked(self, observation: np.ndarray) -> np.ndarray:
        # The builder's own arrays (float32) pass as they are: np.asarray's dtype machinery, run cold
        # after an inference, cost the live agent tens of microseconds a frame.
        obs = observation
        if type(obs) is not np.ndarray or obs.dtype is not _FLOAT32:
            obs = np.asarray(observation, dtype=np.float32)
        if obs.shape != (self.spec.size,):
            raise ControllerError(
                f"{self.name}: observation: expected shape ({self.spec.size},) for platform "
                f"'{self.platform.name}', got {obs.shape}"
            )
        return obs

    def _act(self, obs: np.ndarray, info: dict | None) -> int:
        raise NotImplementedError

    def _rehearse(self, obs: np.ndarray, info: dict | None) -> int | None:
        """:meth:`rehearse`'s hook: a controller whose ``_act`` changes its state overrides it with the
        part that does not; one whose ``_act`` changes nothing sets ``_rehearse = _act``. This default
        rehearses nothing."""

    def mask(self, info: dict | None) -> np.ndarray | None:
        """``info["action_mask"]`` as bools (read-only), or None where it is absent, rules nothing out
        or allows nothing (then every action is as good as any other, so none is ruled out)."""
        return self._checked_mask(info)[0]

    def _checked_mask(self, info: dict | None) -> tuple[np.ndarray | None, bytes]:
        """(:meth:`mask`, the mask's bytes: a key for what a controller derives from it). Each
        distinct mask is checked once: the simulator and the live agent give the same few every
        step. The live agent gives one read-only array every frame: that one is known by identity
        (held here, its id cannot be reused; read-only and owning its data, its bytes cannot
        change)."""
        given = None if info is None else info.get("action_mask")
        if given is None:
            return _NO_MASK
        if given is self._mask_given:
            return self._mask_checked
        mask = np.asarray(given, dtype=bool)
        if mask.shape != (len(self.configs),):
            raise ControllerError(
                f"{self.name}: action_mask: expected shape ({len(self.configs)},), got {mask.shape}"
            )
        key = mask.tobytes()
        checked = self._masks.get(key)
        if checked is None:
            kept = None if mask.all() or not mask.any() else mask.copy()
            if kept is not None:
                kept.flags.writeable = False
            checked = self._masks.keep(key, (kept, key))
        if (isinstance(given, np.ndarray) and given.dtype == bool and given.base is None
                and not given.flags.writeable):
            self._mask_given, self._mask_checked = given, checked
        return checked

    def allowed(self, action: int, info: dict | None) -> int:
        """``action`` where the mask allows it, else :func:`nearest_allowed`."""
        mask = self.mask(info)
        return action if mask is None else nearest_allowed(self.platform, action, mask)

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


def fastest_pe(platform: Any, among: Collection[str] | None = None) -> str:
    """The PE (of ``among``, default all) with the lowest latency for the full network at its top
    frequency with all cores free."""
    groups = platform.groups

    def full_speed_latency_ms(pe: Any) -> float:
        return platform.latency_ms(pe.name, max(pe.freqs_mhz), pe.n_cores, groups)

    pes = [pe for pe in platform.pes if among is None or pe.name in among]
    return min(pes, key=full_speed_latency_ms).name


def allowed_pes(platform: Any, mask: np.ndarray) -> set[str]:
    """The PEs with at least one configuration the mask allows."""
    configs = platform.configs()
    return {configs[i].pe for i in np.flatnonzero(mask)}


def nearest_allowed(platform: Any, action: int, mask: np.ndarray) -> int:
    """``action`` if ``mask`` allows it, else the allowed configuration nearest to it: the same groups
    (any groups if none is allowed), on the fastest PE (:func:`fastest_pe`) that has such a
    configuration, at the frequency closest to the same share of that PE's top frequency as the
    wanted one had of its own (ties: the higher). A request for the GPU flat out becomes the fastest
    allowed CPU cluster flat out, not that cluster at the GPU's MHz."""
    mask = np.asarray(mask, dtype=bool)
    if mask[action] or not mask.any():
        return int(action)
    configs = platform.configs()
    wanted = configs[action]
    allowed = [int(i) for i in np.flatnonzero(mask)]
    same_groups = [i for i in allowed if configs[i].groups == wanted.groups]
    candidates = same_groups or allowed
    pe = platform.pe(fastest_pe(platform, {configs[i].pe for i in candidates}))
    share = wanted.freq_mhz / max(platform.pe(wanted.pe).freqs_mhz)
    target_mhz = share * max(pe.freqs_mhz)
    on_pe = [i for i in candidates if configs[i].pe == pe.name]
    return int(min(on_pe, key=lambda i: (abs(configs[i].freq_mhz - target_mhz), -configs[i].freq_mhz)))
