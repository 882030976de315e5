"""How a benchmark script starts and ends, as `dynscale` does: every script imports this module first
(``import _entry``, before its other imports) and its ``__main__`` calls :func:`run`.

Ctrl-C, or SIGTERM (``kill``, ``timeout``), stops a benchmark as it stops `dynscale deploy`: a live
run's board restored by its session on the way out (``hw_agents._restore``), then one line on stderr,
``NAME: interrupted`` (or ``terminated``), and exit 128 + the signal's number; a user's error (a bad
trace, platform or policy file) is one line, ``NAME: error: ...``, and exit 2; anything else is a bug
and keeps its traceback (:func:`dynscale.cli.run_command`).

That holds whenever the signal comes, also while the script's modules load (numpy, the project's
packages, torch: a second or more), before ``run`` is reached: imported by a script run as a program,
this module holds the two signals (:func:`platform_models.signals.hold_stop_signals`) until ``run``
delivers them inside the ``try`` that ends the run. Imported by anything else (tests load the scripts
as modules, with this folder on ``sys.path``) it holds nothing.

A script runs as ``python benchmarks/NAME.py``, which puts this folder first on ``sys.path``; this
module puts the repository's packages before it, wherever the script is run from.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def run(main: Callable[[], int | None], name: str) -> NoReturn:
    """Run a benchmark's ``main()`` and exit with its code, or as the module docstring says."""
    from dynscale.cli import run_command
    from platform_models.signals import sigterm_raises

    with sigterm_raises():
        code = run_command(name, main)
    sys.exit(code)


def _runs_a_script() -> bool:
    """Whether the program is one of this folder's scripts (not a test that imported one)."""
    program = getattr(sys.modules.get("__main__"), "__file__", None)
    return program is not None and Path(program).resolve().parent == HERE


if _runs_a_script():
    from platform_models.signals import hold_stop_signals  # light: loads no numpy

    hold_stop_signals()
