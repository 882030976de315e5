"""Start-up without a window for signals: SIGINT and SIGTERM held until a run can stop cleanly.

A signal's Python handler runs between bytecodes of the main thread; raised while torch's C++ code
is on the stack (importing torch, building or warming up the DNN), its exception can escape as a C++
exception and abort the process (``terminate called after throwing ... error_already_set``, exit
-6), with the board journalled but not restored. Inside :func:`stop_signals_held` the two signals
stay pending; they are delivered when it ends, where the caller's ``except KeyboardInterrupt`` and
the board session's handlers take them. Processes started meanwhile inherit the mask (burners are
stopped by their parent, never by a signal of their own).

A thread inherits the mask of the thread that starts it, and a thread that does not hold a signal
can take it for the process, after which Python runs the handler in the main thread whatever the
main thread's mask. numpy's import starts OpenBLAS's thread pool, so a window must begin before numpy
loads: this module imports nothing heavy and lives in ``platform_models``, whose package loads its
names on first use (``hw_agents``' package loads numpy). Measured: a SIGTERM 0.65 s into `deploy`
aborted torch's import (exit -6) when this module was ``hw_agents._signals`` and importing it had
already started the pool outside the window.

A program's start-up has the same window: Python raises ``KeyboardInterrupt`` from its first line,
while the program's modules still load (numpy, torch and the project's packages: a second or more),
before any ``try`` that could end it as one line, and SIGTERM there kills it outright. The first
line of ``python -m dynscale`` and of every benchmark script (through ``benchmarks/_entry.py``)
calls :func:`hold_stop_signals`; :func:`dynscale.cli.run_command` delivers what is pending inside
its ``try``, so a stop that came while the program loaded ends it as one that came later.

SIGTERM (``kill``, ``timeout``, a service manager) stops a run as Ctrl-C does: inside
:func:`sigterm_raises` it raises :class:`Terminated`, a ``KeyboardInterrupt``, so that one path
restores the board and writes the summary of what ran; the exit status is 128 + the signal's number.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where SIGINT raises ``KeyboardInterrupt`` (see :func:`sigterm_raises`)."""

    signum = signal.SIGTERM
    word = "terminated"


def stop_signal(stop: KeyboardInterrupt) -> tuple[int, str]:
    """The signal that raised ``stop`` and the word for it: (SIGTERM, "terminated") for a
    :class:`Terminated`, else (SIGINT, "interrupted")."""
    return getattr(stop, "signum", signal.SIGINT), getattr(stop, "word", "interrupted")


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """During the body SIGTERM raises :class:`Terminated` (main thread; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


def hold_stop_signals() -> None:
    """Hold SIGINT and SIGTERM from now on (main thread; elsewhere a no-op): a program's first line,
    until :func:`stop_signals_delivered` (in :func:`dynscale.cli.run_command`) delivers them."""
    if threading.current_thread() is threading.main_thread():
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def stop_signals_held() -> contextlib.AbstractContextManager[None]:
    """Hold SIGINT and SIGTERM for the body (main thread; elsewhere a no-op), then deliver them."""
    return _mask(signal.SIG_BLOCK)


def stop_signals_delivered() -> contextlib.AbstractContextManager[None]:
    """Deliver SIGINT and SIGTERM during the body, even where a caller holds them; held again after."""
    return _mask(signal.SIG_UNBLOCK)


@contextlib.contextmanager
def _mask(how: int) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():  # signals are the main thread's
        yield
        return
    previous = signal.pthread_sigmask(how, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
