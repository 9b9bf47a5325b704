"""The study tells Ray's autoscaler what it needs: on a cluster that starts with no GPU node,
queued GPU trials bring GPU nodes up (no runner is started until a node can hold it, so only
the study's request can have asked for them), and once the study is done its request is
withdrawn and the nodes leave.

The cluster is Ray's fake multi-node provider started by hand, as ../shared/RAY-TESTING.md
says is safe here: `ray start --head` with an autoscaling config, in a process session of its
own that the module ends by its id (never `ray stop`, never AutoscalingCluster). The study's
driver is a subprocess; this test process never joins that cluster.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.ray

_GPU_TYPE = {"CPU": 1, "GPU": 1}

DRIVER = r"""
import json, sys, time
import ray
from raysweep.orchestrator import create_study
from raysweep.orchestrator._storage._log import read_events
from raysweep.samplers import RandomSampler

address, storage = sys.argv[1:3]
ray.init(address=address, log_to_driver=False)
alive = lambda: {n["NodeID"] for n in ray.nodes() if n["Alive"]}
before = alive()

def objective(trial):
    x = trial.suggest_float("x", 0.0, 1.0)
    time.sleep(1.0)
    return x

study = create_study(name="scaled", storage=storage, sampler=RandomSampler(seed=2))
study.optimize(objective, n_trials=4, max_concurrent=2, resources={"GPU": 1, "CPU": 1},
               show_progress=False)
events = read_events(study.directory)
nodes = [e.payload["placement"]["nodes"] for e in events if e.kind == "trial_started"]
states = [t.state.value for t in study.trials]
study.close()
ended = time.monotonic()
while len(alive()) > len(before) and time.monotonic() - ended < 120:
    time.sleep(1.0)
print("RESULT " + json.dumps({"before": sorted(before), "nodes": nodes, "states": states,
      "after": sorted(alive()), "left_after_s": time.monotonic() - ended}))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(address: str) -> dict:
    nothing: list = []
    return {
        "cluster_name": "raysweep-test",
        "max_workers": 2,
        # Idle nodes leave after 3 s: what keeps them is the study's request.
        "idle_timeout_minutes": 0.05,
        "upscaling_speed": 1.0,
        "provider": {
            "type": "fake_multinode",
            "use_node_id_as_ip": True,
            "disable_node_updaters": True,
            "disable_launch_config_check": True,
            "gcs_address": address,
        },
        "available_node_types": {
            "ray.head.default": {"resources": {"CPU": 0}, "node_config": {}, "max_workers": 0},
            "gpu": {"resources": _GPU_TYPE, "node_config": {}, "min_workers": 0, "max_workers": 2},
        },
        "head_node_type": "ray.head.default",
        "auth": {},
        "file_mounts": {},
        "cluster_synced_files": nothing,
        "file_mounts_sync_continuously": False,
        "rsync_exclude": nothing,
        "rsync_filter": nothing,
        "initialization_commands": nothing,
        "setup_commands": nothing,
        "head_setup_commands": nothing,
        "worker_setup_commands": nothing,
        "head_start_ray_commands": nothing,
        "worker_start_ray_commands": nothing,
    }


@pytest.fixture(scope="module")
def autoscaling_cluster() -> Iterator[str]:
    temp = tempfile.mkdtemp(prefix="rs-autoscale-", dir="/tmp")
    os.makedirs(os.path.join(temp, "ray"), exist_ok=True)
    address = f"127.0.0.1:{_free_port()}"
    config = Path(temp) / "autoscaling.json"
    config.write_text(json.dumps(_config(address)))
    env = dict(os.environ, RAY_FAKE_CLUSTER="1", AUTOSCALER_UPDATE_INTERVAL_S="1", RAY_TMPDIR=temp)
    env.pop("RAY_ADDRESS", None)
    head = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "ray"),
            "start",
            "--head",
            f"--port={address.rsplit(':', 1)[1]}",
            "--node-ip-address=127.0.0.1",
            f"--temp-dir={temp}",
            f"--autoscaling-config={config}",
            "--include-dashboard=false",
            "--num-cpus=0",
            "--block",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        time.sleep(8)  # the head, then the monitor's first report
        assert head.poll() is None, "the fake autoscaling cluster did not start"
        yield address
    finally:
        # The head, its monitor and every node it launched are in this session, and only they.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)
        head.wait(timeout=30)


def test_queued_gpu_trials_bring_gpu_nodes_that_leave_after_the_study(
    autoscaling_cluster: str, tmp_path: Path
) -> None:
    out = subprocess.run(
        [sys.executable, "-c", DRIVER, autoscaling_cluster, str(tmp_path / "studies")],
        capture_output=True,
        text=True,
        timeout=400,
        env=dict(os.environ, RAY_ADDRESS=""),
    )
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line is not None, out.stdout[-3000:] + out.stderr[-3000:]
    result = json.loads(line[len("RESULT ") :])
    assert result["states"] == ["complete"] * 4
    # Every trial ran on a node the autoscaler launched for the study.
    used = {node for nodes in result["nodes"] for node in nodes}
    assert used and not used & set(result["before"])
    # Withdrawn once the study ended: the GPU nodes went.
    assert result["after"] == result["before"], result
