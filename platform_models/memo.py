"""A bounded memo: what the simulator and the live agent derive per frame, remembered per its inputs.

Loads and scales vary continuously, so a memo keyed on them would grow without end over a long run;
one that is full is emptied and fills again with what the run asks for now. Reading it is a plain
``dict.get`` (the live agent's hot path costs no extra call), only a miss goes through :meth:`keep`.
"""

from __future__ import annotations

from typing import Any

KEPT = 4096  # entries a memo holds before it starts again


class Memo(dict):
    """A dict of at most ``kept`` entries: ``memo.get(key)``, and on a miss ``memo.keep(key, value)``."""

    def __init__(self, kept: int = KEPT) -> None:
        super().__init__()
        self.kept = kept

    def keep(self, key: Any, value: Any) -> Any:
        """Remember ``value`` for ``key`` (emptying a full memo first) and return it."""
        if len(self) >= self.kept:
            self.clear()
        self[key] = value
        return value
