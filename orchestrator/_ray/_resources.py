"""What each trial may run on (`optimize(resources=...)`), checked against the nodes that exist.

A request no node can hold would leave a runner pending for ever; Ray does not say so, so we
do, before anything starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from raysweep.orchestrator._core._resources import ResourceRequest, describe_nodes, holdable
from raysweep.orchestrator._errors import UnplaceableResourcesError
from raysweep.scheduling import ClusterNode, Shape

__all__ = ["ResourceRequest", "check_placeable", "live_nodes", "resource_options"]


def live_nodes() -> tuple[ClusterNode, ...]:
    """The live nodes of the connected Ray cluster: totals, labels, accelerator type."""
    from raysweep.orchestrator._ray._cluster import cluster_nodes, live_totals

    return cluster_nodes(live_totals(), {}, ())


def check_placeable(request: ResourceRequest, nodes: Sequence[ClusterNode]) -> None:
    """Raise when no live node (or TPU slice) could ever hold any shape of `request`, naming
    what the nodes have. A function's shapes are known only per trial: the TrialScheduler
    checks those as it evaluates them."""
    if request.function is not None or any(holdable(s, nodes) for s in request.shapes):
        return
    raise UnplaceableResourcesError(
        f"no node of this Ray cluster can hold a trial that needs {request}; the nodes have: "
        f"{describe_nodes(nodes)}. Ask for less per trial in resources=..., or add a node "
        "that has it"
    )


def resource_options(shape: Shape) -> dict[str, Any]:
    """Ray's actor or task options that reserve one host of `shape`."""
    wanted = shape.amounts()
    options: dict[str, Any] = {
        "num_cpus": wanted.pop("CPU", 0.0),
        "num_gpus": wanted.pop("GPU", 0.0),
    }
    if "memory" in wanted:
        options["memory"] = wanted.pop("memory")
    if shape.accelerator_type is not None:
        options["accelerator_type"] = shape.accelerator_type
    if wanted:
        options["resources"] = wanted
    return options
