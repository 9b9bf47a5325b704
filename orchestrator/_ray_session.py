"""Attach to Ray, or start a local Ray for the user."""

from __future__ import annotations

import os

import ray


def ensure_ray() -> None:
    """Use the Ray the caller started; else join the cluster in RAY_ADDRESS; else start one.

    Under `ray job submit` RAY_ADDRESS names the cluster, so the same script runs on a laptop and
    on a cluster unchanged.
    """
    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    address = os.environ.get("RAY_ADDRESS") or None
    if address is None:
        ray.init(include_dashboard=False)
    else:
        ray.init(address=address)
