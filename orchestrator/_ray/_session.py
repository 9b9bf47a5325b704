"""Join the Ray cluster the user means, or start a local Ray for them; say which in one line.

The cluster the user means is the one named by ``RAY_ADDRESS`` (``ray job submit`` sets it), or
else the one ``ray start`` recorded on this machine for this user (Ray's
``<temp>/ray/ray_current_cluster`` file, if it is this user's and its address answers). Nothing
else: ``ray.init(address="auto")`` would also join any Ray process it finds running on the
machine — another user's, or a test suite's cluster with fake GPUs — so a script meant for a
laptop could land on someone else's cluster.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from pathlib import Path

import ray

from raysweep.orchestrator._errors import DetachedStudyError

_CONNECT_TIMEOUT_S = 0.5


def ensure_ray() -> str | None:
    """Use the Ray the caller started; else join the cluster meant (above); else start one.

    Returns the line it printed (None when the caller's Ray was used, and nothing is said).
    """
    if ray.is_initialized():
        return None
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    address = os.environ.get("RAY_ADDRESS") or None
    if address is not None:
        ray.init(address=address)
        return _say(f"joined the Ray cluster at {address} (from RAY_ADDRESS)")
    recorded = recorded_cluster(_address_file())
    if recorded is not None:
        ray.init(address=recorded)
        return _say(
            f"joined the Ray cluster at {recorded} (started by `ray start` on this machine)"
        )
    # "local": start a new Ray even if some other one is running here.
    ray.init(address="local", include_dashboard=False)
    return _say(
        "started a local Ray for this process (to use a cluster, set RAY_ADDRESS or run "
        "`ray start --head` first)"
    )


def recorded_cluster(path: Path) -> str | None:
    """The address `ray start` recorded in `path`, if the file is this user's and it answers."""
    try:
        stat = path.stat()
        text = path.read_text().strip()
    except OSError:
        return None
    if stat.st_uid != os.getuid() or not text:
        return None
    host, _, port = text.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=_CONNECT_TIMEOUT_S):
            return text
    except (OSError, ValueError):
        return None  # a cluster that has stopped since (the file outlives it)


def _address_file() -> Path:
    from ray._common.utils import get_ray_address_file

    return Path(get_ray_address_file(None))


def _say(line: str) -> str:
    print(f"[raysweep] {line}", file=sys.stderr, flush=True)
    return line


def join_cluster(address: str | None = None) -> str:
    """Connect to a running Ray cluster, never start one; returns its address.

    For commands that look for what lives on a cluster (detached studies): `address`, else
    ``RAY_ADDRESS``, else the cluster `ray start` recorded on this machine.
    """
    if ray.is_initialized():
        return str(ray.get_runtime_context().gcs_address)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    address = address or os.environ.get("RAY_ADDRESS") or recorded_cluster(_address_file())
    if address is None:
        raise DetachedStudyError(
            "no Ray cluster to look in: detached studies live on a cluster started with "
            "`ray start --head` on this machine, or the one RAY_ADDRESS names; pass its address "
            "(--address HOST:PORT) if it is elsewhere"
        )
    try:
        ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
    except ConnectionError as exc:
        raise DetachedStudyError(f"cannot reach the Ray cluster at {address}: {exc}") from None
    return address


def outlives_this_process() -> bool:
    """Whether the connected Ray goes on after this process exits.

    A Ray that `ray.init()` started here (no cluster given) is shut down with its driver, and
    a detached actor with it.
    """
    node = getattr(ray._private.worker.global_worker, "node", None)
    return node is None or not bool(getattr(node, "head", False))
