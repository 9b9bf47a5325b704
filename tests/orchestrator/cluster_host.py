"""A multi-node Ray cluster on this machine, kept by a process of its own for the tests.

`ray.cluster_utils.Cluster` starts a head and worker nodes as child processes. The tests start
this script with `start_new_session=True`, so everything the cluster starts lives in one
process session that the tests end by its id, and nothing else on the machine is touched
(never `ray stop`). The test process itself stays out of Ray: drivers run as their own
subprocesses against the address this prints.

Protocol: one JSON object per line, after `MARK`. On start it prints {"address", "head",
"nodes"}; then it reads commands from stdin and answers each with one line:

    {"op": "add", "num_cpus": 1, "resources": {...}}  -> {"node": id}
      (a worker of the start spec also takes "num_gpus")
    {"op": "remove", "node": id}                       -> {"removed": id}
    {"op": "preempt", "node": id}                      -> {"preempted": id} (drained with reason
                                                          PREEMPTION first, then killed)
    {"op": "nodes"}                                    -> {"nodes": {id: resources}} (alive)
    {"op": "quit"}                                     -> the cluster shuts down
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from typing import Any

import ray
from ray.cluster_utils import Cluster

_STORE = 80 * 1024 * 1024
# Ray's enum value for a drain because the node is being preempted (autoscaler.proto).
_PREEMPTION = 2


# Ray may print on stdout too: the protocol's lines carry this mark.
MARK = "@cluster "


def _say(message: dict[str, Any]) -> None:
    print(MARK + json.dumps(message), flush=True)


def main() -> None:
    temp = tempfile.mkdtemp(prefix="rs-cluster-", dir="/tmp")
    # Cluster writes `ray_current_cluster` under RAY_TMPDIR: keep it off the shared default.
    os.environ["RAY_TMPDIR"] = temp
    os.makedirs(os.path.join(temp, "ray"), exist_ok=True)
    spec = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    # The head runs no trials (no CPU): the driver, the study's actors and the pool live there.
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 0,
            "object_store_memory": _STORE,
            "include_dashboard": False,
            "temp_dir": temp,
        },
    )
    nodes: dict[str, Any] = {}

    def add(num_cpus: float, resources: dict[str, float], num_gpus: float = 0) -> str:
        node = cluster.add_node(
            num_cpus=num_cpus,
            num_gpus=num_gpus,
            resources=resources,
            object_store_memory=_STORE,
            wait=True,
        )
        nodes[node.node_id] = node
        return str(node.node_id)

    for worker in spec.get("workers", []):
        add(worker.get("num_cpus", 1), worker.get("resources", {}), worker.get("num_gpus", 0))
    cluster.wait_for_nodes()
    _say({"address": cluster.address, "head": cluster.head_node.node_id, "nodes": list(nodes)})
    ray.init(address=cluster.address, log_to_driver=False)
    gcs = ray._private.worker.global_worker.gcs_client
    try:
        for line in sys.stdin:
            command = json.loads(line)
            op = command["op"]
            if op == "quit":
                break
            if op == "nodes":
                alive = [n for n in ray.nodes() if n["Alive"]]
                _say({"nodes": {n["NodeID"]: n["Resources"] for n in alive}})
            elif op == "add":
                _say({"node": add(command.get("num_cpus", 1), command.get("resources", {}))})
            elif op in ("remove", "preempt"):
                node_id = command["node"]
                if op == "preempt":
                    deadline_ms = int((time.time() + 30) * 1000)
                    gcs.drain_node(node_id, _PREEMPTION, "spot preemption (test)", deadline_ms)
                # A provider takes a preempted machine away hard: a graceful stop would
                # overwrite the drain's reason with "received SIGTERM".
                cluster.remove_node(nodes.pop(node_id), allow_graceful=op == "remove")
                _say({"removed" if op == "remove" else "preempted": node_id})
            else:
                _say({"error": f"unknown op {op!r}"})
    finally:
        ray.shutdown()
        cluster.shutdown()
        shutil.rmtree(temp, ignore_errors=True)


if __name__ == "__main__":
    main()
