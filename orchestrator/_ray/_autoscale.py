"""The study's demand, told to Ray's autoscaler: what its runners hold and what its waiting
trials need, so that node groups grow for queued work and shrink once it is done.

`request_resources(bundles=...)` is a target for the whole cluster, not an addition: the
autoscaler adds nodes until all the bundles could run at once, counting what already runs
(Ray's docs: 45 one-CPU tasks running and a request for 100 CPUs add room for 100, not 145).
So the demand is one bundle per runner the pool holds plus one per trial that waits for room
(the planner's unmet shapes, the preferred shape of each), sized by the work the study has
now — never a fixed cap on pending trials. Each call replaces the last, so it is made only
when the demand changes, and withdrawn (an empty request) when the pool's run ends, however it
ends. Without an autoscaler the request is recorded by the GCS and nothing acts on it.

One request stands per cluster: two studies on one cluster replace each other's (a limit of
Ray's API; noted in the README).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from raysweep.scheduling import Shape

__all__ = ["DemandPublisher", "demand_bundles", "withdraw_demand"]

_log = logging.getLogger(__name__)
# What a task or actor with `accelerator_type=` asks of Ray's `accelerator_type:<T>` resource.
_ACCELERATOR_AMOUNT = 0.001


def demand_bundles(held: Iterable[Shape], waiting: Iterable[Shape]) -> list[dict[str, float]]:
    """Bundles for `request_resources`: one per shape held and per shape waited for (per host
    of a TPU slice), in Ray's resource names; `memory` is left out (node types seldom declare
    it, and a bundle no node type has is dropped by the autoscaler as infeasible)."""
    bundles = []
    for shape in [*held, *waiting]:
        for host in range(shape.hosts):
            bundle = {name: amount for name, amount in shape.resources if name != "memory"}
            if shape.accelerator_type is not None:
                bundle[f"accelerator_type:{shape.accelerator_type}"] = _ACCELERATOR_AMOUNT
            if shape.pod_type is not None and host == 0:
                # Ray gives worker 0 of each slice `TPU-<pod type>-head`; asking for it is how
                # an autoscaler is told to launch a whole slice, not loose hosts.
                bundle[f"TPU-{shape.pod_type}-head"] = 1.0
            if bundle:
                bundles.append(bundle)
    return bundles


class DemandPublisher:
    """Tells the autoscaler the study's demand when it changes; `withdraw` at the end."""

    def __init__(self) -> None:
        self._last: list[dict[str, float]] | None = None

    def publish(self, bundles: list[dict[str, float]]) -> None:
        if bundles == self._last:
            return
        self._request(bundles)

    def withdraw(self) -> None:
        if self._last:
            self._request([])

    def _request(self, bundles: list[dict[str, float]]) -> None:
        if _request(bundles):
            self._last = bundles
            _log.debug("autoscaler demand: %d bundles", len(bundles))


def withdraw_demand() -> None:
    """Withdraw the demand from the driver, for a pool that was ended before it could."""
    _request([])


def _request(bundles: list[dict[str, float]]) -> bool:
    from ray.autoscaler.sdk import request_resources

    # A hint: a cluster that cannot take it must not stop the study.
    try:
        request_resources(bundles=bundles)
    except Exception as exc:
        _log.debug("autoscaler demand not sent: %s", exc)
        return False
    return True
