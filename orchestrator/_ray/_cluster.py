"""The nodes of the Ray cluster as the placement planner sees them, read as they come and go.

Totals and labels come from `ray.nodes()`; what is free from the autoscaler's cluster status
(Ray's per-node available resources), never counted above what the pool's own runners leave:
a runner just started may not be in Ray's figures yet.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterable, Mapping

import ray

from raysweep.scheduling import ClusterNode, Shape

_log = logging.getLogger(__name__)
_ACCELERATOR_PREFIX = "accelerator_type:"
_GROUP_RESOURCE = re.compile(r"_group_(?:\d+_)?[0-9a-f]{16,}$")
# Fresh enough: nodes join and leave in seconds, and a plan is checked again at every change.
_REFRESH_S = 0.5


def planner_resources(resources: Mapping[str, float]) -> dict[str, float]:
    """Resources a shape can ask for: without Ray's per-node bookkeeping ("node:<ip>") and the
    resources it makes for the bundles of placement groups ("CPU_group_0_<id>")."""
    return {
        name: float(amount)
        for name, amount in resources.items()
        if not name.startswith(("node:", _ACCELERATOR_PREFIX))
        and name != "object_store_memory"
        and _GROUP_RESOURCE.search(name) is None
    }


def accelerator_type(resources: Mapping[str, float]) -> str | None:
    """The node's accelerator type, from the `accelerator_type:<type>` resource Ray gives it."""
    for name in resources:
        if name.startswith(_ACCELERATOR_PREFIX):
            return name[len(_ACCELERATOR_PREFIX) :]
    return None


def cluster_nodes(
    totals: Iterable[tuple[str, Mapping[str, float], Mapping[str, str]]],
    available: Mapping[str, Mapping[str, float]],
    ours: Iterable[tuple[Shape, tuple[str, ...]]],
) -> tuple[ClusterNode, ...]:
    """Planner nodes from (node id, total resources, labels), Ray's available resources per
    node id (missing: unknown), and the (shape, nodes) of the runners the pool holds."""
    held: dict[str, dict[str, float]] = {}
    for shape, nodes in ours:
        for node in nodes:
            into = held.setdefault(node, {})
            for name, amount in shape.resources:
                into[name] = into.get(name, 0.0) + amount
    nodes_out = []
    for node_id, total_raw, labels in totals:
        total = planner_resources(total_raw)
        mine = held.get(node_id, {})
        free = {name: max(0.0, amount - mine.get(name, 0.0)) for name, amount in total.items()}
        if node_id in available:
            seen = planner_resources(available[node_id])
            free = {name: min(amount, seen.get(name, 0.0)) for name, amount in free.items()}
        nodes_out.append(
            ClusterNode(node_id, total, free, dict(labels), accelerator_type(total_raw))
        )
    return tuple(nodes_out)


def live_totals() -> list[tuple[str, dict[str, float], dict[str, str]]]:
    """(node id, total resources, labels) of each live node, from `ray.nodes()`."""
    return [
        (n["NodeID"], dict(n["Resources"]), dict(n.get("Labels") or {}))
        for n in ray.nodes()  # type: ignore[no-untyped-call]
        if n["Alive"]
    ]


class ClusterView:
    """Reads the live nodes, at most every `_REFRESH_S` (or at once after `stale()`)."""

    def __init__(self) -> None:
        self._read_at = -float("inf")
        self._totals: list[tuple[str, dict[str, float], dict[str, str]]] = []
        self._available: dict[str, dict[str, float]] = {}

    def stale(self) -> None:
        """A node may have gone (a runner was lost): read again next time."""
        self._read_at = -float("inf")

    def nodes(self, ours: Iterable[tuple[Shape, tuple[str, ...]]]) -> tuple[ClusterNode, ...]:
        if time.monotonic() - self._read_at >= _REFRESH_S:
            self._read()
        return cluster_nodes(self._totals, self._available, ours)

    def _read(self) -> None:
        self._totals = live_totals()
        self._available = _available_per_node()
        self._read_at = time.monotonic()


def _available_per_node() -> dict[str, dict[str, float]]:
    """Ray's available resources per live node; empty (unknown) if the status cannot be had."""
    try:
        from ray.autoscaler.v2.sdk import get_cluster_status

        status = get_cluster_status(ray.get_runtime_context().gcs_address)
    except Exception as exc:  # an older GCS, a status not served: the totals alone then
        _log.debug("no per-node available resources: %s", exc)
        return {}
    return {
        node.node_id: dict(node.available_resources())
        for node in [*status.active_nodes, *status.idle_nodes]
        if node.node_id is not None
    }


def autoscaler_can_launch() -> bool:
    """Whether an autoscaler that launches nodes of its own types runs on this cluster.

    Autoscaler v1's monitor publishes its report in the GCS (`DEBUG_AUTOSCALING_STATUS`); v2
    marks itself there (`is_autoscaler_v2`) and publishes no such report. On a cluster
    without an autoscaling config its read-only provider names each live node's type
    `node_<node id>`; an autoscaler names the types of its config (`ray.head.default`, `gpu`,
    ...). Its config itself is not published, so what it could launch is not known here: with
    one, a shape no live node holds waits (and is asked for) instead of being refused.
    """
    try:
        from ray._private.ray_constants import DEBUG_AUTOSCALING_STATUS
        from ray.experimental.internal_kv import _internal_kv_get

        raw = _internal_kv_get(DEBUG_AUTOSCALING_STATUS)
        report = (json.loads(raw) if raw else {}).get("autoscaler_report") or {}
    except Exception as exc:
        _log.debug("no autoscaler report: %s", exc)
        return False
    mapping = report.get("node_type_mapping") or {}
    if any(kind != f"node_{node}" for node, kind in mapping.items()):
        return True
    # Autoscaler v2 publishes no such report; the GCS says whether it runs.
    try:
        from ray.autoscaler.v2.utils import is_autoscaler_v2

        return bool(is_autoscaler_v2(fetch_from_server=True))
    except Exception as exc:
        _log.debug("whether autoscaler v2 runs is not known: %s", exc)
        return False
