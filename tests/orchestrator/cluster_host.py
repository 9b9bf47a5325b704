"""A multi-node Ray cluster on this machine, kept by a process of its own for the tests.

`ray.cluster_utils.Cluster` starts a head and worker nodes as child processes. The tests start
this script with `start_new_session=True`, so everything the cluster starts lives in one
process session that the tests end by its id, and nothing else on the machine is touched
(never `ray stop`). The test process itself stays out of Ray: drivers run as their own
subprocesses against the address this prints.

Protocol: one JSON object per line, after `MARK`. On start it prints {"address", "head",
"nodes"}; then it reads commands from stdin and answers each with one line:

    {"op": "add", "num_cpus": 1, "resources": {...}}  -> {"node": id}
      (a worker of the start spec also takes "num_gpus", and "env": a TPU host's metadata
      variables, TPU_NAME, TPU_WORKER_ID, TPU_ACCELERATOR_TYPE, TPU_TOPOLOGY)
    {"op": "remove", "node": id}                       -> {"removed": id}
    {"op": "preempt", "node": id}                      -> {"preempted": id} (drained with reason
                                                          PREEMPTION first, then killed)
    {"op": "nodes"}                                    -> {"nodes": {id: resources}} (alive)
    {"op": "labels"}                                   -> {"labels": {id: labels}} (alive)
    {"op": "quit"}                                     -> the cluster shuts down
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
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


class ClusterHost:
    """The tests' side: starts this script in a process session of its own and asks it."""

    def __init__(self, workers: list[dict[str, Any]]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__)), json.dumps({"workers": workers})],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=dict(os.environ, RAY_ADDRESS=""),
            start_new_session=True,
        )
        hello = self._answer()
        self.address: str = hello["address"]
        self.head: str = hello["head"]
        self.workers: list[str] = hello["nodes"]

    def _answer(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        for line in iter(self.proc.stdout.readline, ""):
            if line.startswith(MARK):
                return json.loads(line[len(MARK) :])
        raise AssertionError(f"the cluster host exited ({self.proc.wait()})")

    def ask(self, **command: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        return self._answer()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ask(op="quit")
            self.proc.wait(timeout=60)
        # Whatever the cluster left behind is in this session, and nothing else is.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)


def start_driver(
    script: Path, cluster: ClusterHost, tmp_path: Path, name: str, *options: str
) -> subprocess.Popen[str]:
    """Run a study driver script against `cluster`, in a process session of its own, with
    `--address`, `--storage <tmp_path>/studies`, `--name` and `--marks <tmp_path>/marks` (made
    here), then `options`; it prints "finished" at the end."""
    marks = tmp_path / "marks"
    marks.mkdir()
    command = [
        sys.executable,
        str(script),
        *("--address", cluster.address, "--storage", str(tmp_path / "studies")),
        *("--name", name, "--marks", str(marks)),
        *options,
    ]
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, RAY_ADDRESS="", PYTHONUNBUFFERED="1"),
        start_new_session=True,
    )


def wait_for_mark(proc: subprocess.Popen[str], mark: Path, what: str) -> dict[str, Any]:
    """The JSON a driver writes to `mark` (e.g. once a trial stalls where the test wants it)."""
    deadline = time.monotonic() + 180
    while not mark.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"no {what}; the driver said:\n{proc.communicate()[0]}")
        time.sleep(0.2)
    time.sleep(0.2)  # the file is written in one call; let it be complete
    loaded: dict[str, Any] = json.loads(mark.read_text())
    return loaded


def finish_driver(proc: subprocess.Popen[str]) -> str:
    """The driver's output, once it has finished well."""
    try:
        out = proc.communicate(timeout=240)[0]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError(f"the driver did not finish:\n{proc.communicate()[0]}") from None
    assert proc.returncode == 0 and "finished" in out, out
    return out


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

    def add(
        num_cpus: float,
        resources: dict[str, float],
        num_gpus: float = 0,
        env: dict[str, str] | None = None,
    ) -> str:
        # A TPU host is simulated by its metadata variables: Ray reads them from this process
        # when it starts the node (labels, the slice's head resource) and from the node's.
        saved = {name: os.environ.get(name) for name in env or {}}
        os.environ.update(env or {})
        try:
            node = cluster.add_node(
                num_cpus=num_cpus,
                num_gpus=num_gpus,
                resources=resources,
                object_store_memory=_STORE,
                wait=True,
                **({"env_vars": dict(env)} if env else {}),
            )
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        nodes[node.node_id] = node
        return str(node.node_id)

    for worker in spec.get("workers", []):
        add(
            worker.get("num_cpus", 1),
            worker.get("resources", {}),
            worker.get("num_gpus", 0),
            worker.get("env"),
        )
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
            elif op == "labels":
                alive = [n for n in ray.nodes() if n["Alive"]]
                _say({"labels": {n["NodeID"]: n.get("Labels") or {} for n in alive}})
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
