"""What each trial may run on (`optimize(resources=...)`), checked against the nodes that exist.

A request no node can hold would leave a runner pending for ever; Ray does not say so, so we
do, before anything starts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from raysweep.orchestrator._core._resources import ResourceRequest, could_hold
from raysweep.orchestrator._errors import UnplaceableResourcesError

__all__ = ["ResourceRequest", "check_placeable", "live_nodes"]


def live_nodes() -> list[tuple[dict[str, float], str | None]]:
    """Total resources and accelerator type of each live node of the connected Ray cluster."""
    import ray

    from raysweep.orchestrator._ray._cluster import accelerator_type

    nodes = ray.nodes()  # type: ignore[no-untyped-call]
    return [(dict(n["Resources"]), accelerator_type(n["Resources"])) for n in nodes if n["Alive"]]


def check_placeable(
    request: ResourceRequest, nodes: Iterable[tuple[Mapping[str, float], str | None]]
) -> None:
    """Raise when no live node could ever hold any shape of `request`, naming what the nodes
    have. `nodes`: each live node's total resources and accelerator type. A function's shapes
    are known only per trial: the TrialScheduler checks those as it evaluates them."""
    if request.function is not None:
        return
    known = list(nodes)
    if any(
        could_hold(total, accelerator, shape)
        for shape in request.shapes
        for total, accelerator in known
    ):
        return
    described = "; ".join(
        "{"
        + ", ".join(f"{k}: {v:g}" for k, v in sorted(total.items()) if _shown(k))
        + (f", accelerator_type: {accelerator}" if accelerator else "")
        + "}"
        for total, accelerator in known
    )
    raise UnplaceableResourcesError(
        f"no node of this Ray cluster can hold a trial that needs {request}; the nodes have: "
        f"{described or 'no nodes'}. Ask for less per trial in resources=..., or add a node "
        "that has it"
    )


def _shown(resource: str) -> bool:
    # Ray adds per-node bookkeeping resources ("node:10.0.0.1", "memory"); they only confuse here.
    return not resource.startswith(("node:", "accelerator_type:")) and resource not in {
        "memory",
        "object_store_memory",
    }
