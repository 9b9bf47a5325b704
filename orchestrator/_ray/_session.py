"""Attach to Ray, or start a local Ray for the user."""

from __future__ import annotations

import os

import ray


def ensure_ray() -> None:
    """Use the Ray the caller started; else join a running cluster; else start a local one.

    A running cluster is the one named by RAY_ADDRESS (as `ray job submit` sets it), or the one
    `ray start` left on this machine (`address="auto"`), so the same script runs on a laptop and
    on a cluster unchanged.
    """
    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    address = os.environ.get("RAY_ADDRESS") or None
    if address is not None:
        ray.init(address=address)
        return
    try:
        ray.init(address="auto")
    except ConnectionError:
        ray.init(include_dashboard=False)
