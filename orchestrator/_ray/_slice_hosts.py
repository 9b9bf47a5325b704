"""The hosts of a TPU slice as a trial's objective reaches them: `trial.run_on_hosts(fn)`.

The runner of a slice trial lives on host 0 in the slice's placement group, holding only the
CPUs of bundle 0; `fn(i)` runs as one task per host in bundle i, holding that host's chips
(Ray sets `TPU_VISIBLE_CHIPS` for it). The calls run at once, as a gang: the first to fail
ends the others, since a collective program on the rest would wait for ever. A host whose
process or node dies ends the attempt as a crash (`SliceHostLost`) and the runner leaves, so
that the pool gives the slice back and the trial is re-run on a whole one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import ray
from ray.util.placement_group import PlacementGroup
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from raysweep.orchestrator._errors import TrialInterrupted
from raysweep.orchestrator._ray._handles import INFRASTRUCTURE_ERRORS, describe
from raysweep.orchestrator._ray._resources import resource_options
from raysweep.scheduling import Shape

__all__ = ["SliceHostLost", "SliceHosts"]

_T = TypeVar("_T")


class SliceHostLost(TrialInterrupted):
    """A host of the trial's slice died mid-call: the attempt ends and is re-run (a crash,
    unless the node was preempted)."""

    def __init__(self, message: str, *, preempted: bool) -> None:
        super().__init__(message)
        self.preempted = preempted


def _on_host(fn: Callable[[int], Any], host: int) -> Any:
    return fn(host)


# A host's call is not retried by Ray: a lost host ends the gang's attempt instead.
_OnHost: Any = ray.remote(max_retries=0)(_on_host)


class SliceHosts:
    """Runs functions on every host of the slice held by `group` (the runner's own)."""

    def __init__(
        self, group: PlacementGroup, per_host: Mapping[str, float], hosts: int, slice_name: str
    ) -> None:
        self._group = group
        self._hosts = hosts
        self._slice = slice_name
        # The runner holds the CPUs of bundle 0; the hosts' calls hold the rest of each bundle.
        chips = Shape.of({name: amount for name, amount in per_host.items() if name != "CPU"})
        self._options = resource_options(chips)

    def run(self, fn: Callable[[int], _T]) -> list[_T]:
        refs = [
            _OnHost.options(
                scheduling_strategy=PlacementGroupSchedulingStrategy(
                    self._group, placement_group_bundle_index=host
                ),
                **self._options,
            ).remote(fn, host)
            for host in range(self._hosts)
        ]
        host_of = {ref: host for host, ref in enumerate(refs)}
        pending = list(refs)
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                for ref in ready:
                    try:
                        ray.get(ref)
                    except INFRASTRUCTURE_ERRORS as exc:
                        preempted = bool(getattr(exc, "preempted", False))
                        raise SliceHostLost(
                            f"host {host_of[ref]} of TPU slice {self._slice} was lost"
                            + (" (its node was preempted)" if preempted else "")
                            + f": {describe(exc)}",
                            preempted=preempted,
                        ) from exc
        except BaseException:
            for ref in pending:
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)
            raise
        return [ray.get(ref) for ref in refs]
