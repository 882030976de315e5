"""The ``dynscale`` command line: parse, call one library function, print, return an exit code.

Each verb group lives in its own private module with a ``register(subparsers)`` function that adds
its parsers and sets ``handler`` on them. Handlers import their library lazily so that ``--help``
and the light verbs start fast and the board-side verbs never pull in gymnasium, simpy or SB3.

Errors a user can fix (bad input, missing files, absent hardware) are typed exceptions of the
packages; they become one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from dynscale import _board, _dnn, _help, _learn, _live, _platform, _sweep, _trace

EXIT_USAGE = 2

def user_error_types() -> tuple[type[BaseException], ...]:
    """The base of every package's user errors (``platform_models.errors.InputError``), looked up in
    sys.modules when an exception escapes: a package that was never imported cannot have raised one,
    so nothing heavy loads for ``--help`` and the light verbs."""
    module = sys.modules.get("platform_models.errors")
    return () if module is None else (module.InputError,)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dynscale",
        description="Runtime performance scaling of a dynamic DNN on heterogeneous embedded boards.",
    )
    from dynscale import __version__  # read here, inside main's handling of Ctrl-C

    parser.add_argument("--version", action="version", version=f"dynscale {__version__}")
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB")
    subparsers.required = True
    for module in (_dnn, _platform, _trace, _learn, _sweep, _board, _live):
        module.register(subparsers)
    _help.finish(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # from the first line: a Ctrl-C while the parser is built is an interruption, not a traceback
    return run_command("dynscale", lambda: run_verb(argv))


def run_verb(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``) and run its verb; its exceptions propagate."""
    args = build_parser().parse_args(argv)
    return int(args.handler(args) or 0)


def run_command(prog: str, command: Callable[[], int | None]) -> int:
    """``command()``'s exit code, with a stop and a user's error each ended as one line on stderr
    prefixed ``PROG:``, as every entry point ends them (``dynscale`` and ``benchmarks/``).

    A ``KeyboardInterrupt`` (Ctrl-C; SIGTERM where :func:`platform_models.signals.sigterm_raises` is
    in force; a deploy's ``DeployInterrupted``) returns 128 + the signal's number; a user error
    (:func:`user_error_types`) returns 2; anything else is a bug and keeps its traceback.
    """
    try:
        return int(command() or 0)
    except KeyboardInterrupt as stop:
        from platform_models.signals import stop_signal  # light: loads no numpy

        signum, word = stop_signal(stop)
        print(f"{prog}: {word}", file=sys.stderr)
        return 128 + signum
    except Exception as exc:
        if isinstance(exc, user_error_types()):
            sys.stdout.flush()
            print(f"{prog}: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        raise
