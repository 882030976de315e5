"""How a benchmark script ends, as `dynscale` ends: every script's ``__main__`` calls :func:`run`.

Ctrl-C, or SIGTERM (``kill``, ``timeout``), stops a benchmark as it stops `dynscale deploy`: a live
run's board restored by its session on the way out (``hw_agents._restore``), then one line on stderr,
``NAME: interrupted`` (or ``terminated``), and exit 128 + the signal's number; a user's error (a bad
trace, platform or policy file) is one line, ``NAME: error: ...``, and exit 2; anything else is a bug
and keeps its traceback (:func:`dynscale.cli.run_command`).

A script runs as ``python benchmarks/NAME.py``, which puts this folder first on ``sys.path``: it
imports this module as ``_entry``, inside its ``__main__`` block (tests load the scripts as modules).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NoReturn


def run(main: Callable[[], int | None], name: str) -> NoReturn:
    """Run a benchmark's ``main()`` and exit with its code, or as the module docstring says."""
    from dynscale.cli import run_command
    from platform_models.signals import sigterm_raises

    with sigterm_raises():
        code = run_command(name, main)
    sys.exit(code)
