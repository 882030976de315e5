"""The Ray cluster a sweep or a parallel evaluation runs on: embedded by default, or one given by address.

Embedded (no address): ``ray.init`` starts a head on this machine for the length of the ``with``
block and ``ray.shutdown`` stops it, whatever ends the block (the end, an exception, Ctrl-C); Ray
starts the head's processes bound to the driver's life, and ``_reaper`` stops the ones that outlive a
killed driver.
``auto``, ``HOST:PORT`` (``ray start --head``'s GCS port) or ``ray://HOST:PORT`` (Ray Client) join
a cluster someone started; it outlives the block.

Quiet and clean, whatever the cluster: no usage statistics (``RAY_USAGE_STATS_ENABLED=0``), no
driver echo of the workers' output, Ray's session files under the system temp dir. Ray 2.60 turns
token authentication on for a new local cluster and saves the token in ``~/.ray/auth_token``; the
embedded head gets a fresh token through the environment instead, so nothing is written to HOME.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

from controllers.errors import SweepError

_MARKER_NAME = "DYNSCALE_RAY_SESSION"
CONNECT_TIMEOUT_S = 5.0
"""How long a ``HOST:PORT`` address gets to accept a TCP connection before the one-line error."""
_QUIET_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",  # nothing sent to Anyscale
    "RAY_USAGE_STATS_PROMPT_ENABLED": "0",
    "RAY_DEDUP_LOGS": "0",
    "RAY_AIR_NEW_OUTPUT": "0",  # the legacy reporter prints nothing at verbose=0; the new one prints errors
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",  # no CSV/JSON/TensorBoard logs per trial: trials.csv is ours
    "RAY_TRAIN_V2_ENABLED": "0",
}


def check_address(address: str | None) -> None:
    """A TCP connect to ``HOST:PORT`` (of ``ray://HOST:PORT`` too), so a wrong address fails fast.

    Raises:
        SweepError: the address is malformed or nothing accepts the connection.
    """
    if address is None or address == "auto":
        return
    host_port = address.removeprefix("ray://")
    host, sep, port = host_port.rpartition(":")
    if not sep or not port.isdigit():
        raise SweepError(f"--address: expected auto, HOST:PORT or ray://HOST:PORT, got '{address}'")
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise SweepError(
            f"--address {address}: cannot reach {host}:{port} ({reason}); "
            "is `ray start --head` running there, and the port open?"
        ) from None


@contextlib.contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None) -> Iterator[None]:
    """Ray connected for the block: embedded (``address`` None) or the cluster at ``address``.

    Args:
        address: None (start Ray on this machine), ``auto``, ``HOST:PORT`` or ``ray://HOST:PORT``.
        num_cpus: CPUs the embedded head offers (None: all of this machine's); ignored with an address.

    Raises:
        SweepError: the address is malformed or answers nothing.
    """
    os.environ.update(_QUIET_ENV)
    embedded = address is None
    if embedded and not any(
        k in os.environ for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")
    ):
        os.environ["RAY_AUTH_MODE"] = "token"
        os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
    check_address(address)
    import ray

    kwargs: dict[str, Any] = {}
    reaper = None
    if embedded:
        kwargs.update(
            include_dashboard=False, num_cpus=num_cpus, _temp_dir=os.path.join(tempfile.gettempdir(), "ray")
        )
        reaper = _start_reaper()
    try:
        ray.init(
            address=address,
            log_to_driver=False,
            logging_level=logging.ERROR,
            configure_logging=True,
            **kwargs,
        )
    except ConnectionError as err:
        raise SweepError(f"--address {address}: {str(err).splitlines()[0]}") from None
    except BaseException:
        _stop_reaper(reaper)
        raise
    # Tune logs each failed trial's traceback at ERROR; a sweep records its one line in trials.csv instead.
    for name in ("ray.tune", "ray.train", "ray.air"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        ray.shutdown()
        _stop_reaper(reaper)


def _start_reaper() -> subprocess.Popen:
    """``_reaper`` watching this driver: every Ray process started from here carries the marker."""
    os.environ[_MARKER_NAME] = secrets.token_hex(8)
    # Ray titles its processes (``ray::DashboardAgent``) with setproctitle, which overwrites the
    # environment block that /proc/PID/environ shows: the agents' marker was zeroed, so the reaper
    # never saw them. SPT_NOENV keeps the block (the title then fits in the command line's space).
    os.environ["SPT_NOENV"] = "1"
    marker = f"{_MARKER_NAME}={os.environ[_MARKER_NAME]}"
    return subprocess.Popen(
        [sys.executable, "-m", "controllers._reaper", marker], stdin=subprocess.PIPE, start_new_session=True
    )


def _stop_reaper(reaper: subprocess.Popen | None) -> None:
    """Close the reaper's pipe (it stops what Ray left, if anything) and wait for it."""
    if reaper is None:
        return
    reaper.stdin.close()
    try:
        reaper.wait(timeout=30)
    except subprocess.TimeoutExpired:
        reaper.kill()


def map_on_ray(
    function: Callable[..., Any],
    calls: list[tuple],
    workers: int,
    address: str | None = None,
    on_done: Callable[[], None] | None = None,
) -> list[Any]:
    """``[function(*args) for args in calls]`` as Ray tasks, at most ``workers`` at once, in order.

    Embedded Ray gets ``workers`` CPUs; on a cluster, the window of ``workers`` tasks in flight keeps
    the share asked for. A task that raises re-raises its exception here. ``on_done`` is called as
    each task finishes (a progress bar's step).
    """
    with ray_session(address, num_cpus=workers):
        import ray

        task = ray.remote(num_cpus=1)(function)
        pending: dict[Any, int] = {}
        results: list[Any] = [None] * len(calls)
        for index, args in enumerate(calls):
            if len(pending) >= workers:
                _collect(ray, pending, results, on_done)
            pending[task.remote(*args)] = index
        while pending:
            _collect(ray, pending, results, on_done)
        return results


def _collect(
    ray: Any, pending: dict[Any, int], results: list[Any], on_done: Callable[[], None] | None
) -> None:
    """Wait for one task of ``pending`` and put its value in ``results``."""
    (ready,), _ = ray.wait(list(pending), num_returns=1)
    try:
        results[pending.pop(ready)] = ray.get(ready)
    except ray.exceptions.RayTaskError as err:
        raise err.as_instanceof_cause() from None
    if on_done is not None:
        on_done()
