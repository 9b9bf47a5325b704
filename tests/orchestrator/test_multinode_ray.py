"""A study on a real multi-node Ray cluster (`ray.cluster_utils.Cluster`) loses the node a trial
runs on: the trial resumes on another node from its checkpoint. A node removed counts as a crash
of the trial; a node drained for preemption does not.

One cluster for the module, kept by `cluster_host.py` in a process session of its own; the
drivers are subprocesses too, so this test process never joins a Ray cluster.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cluster_host import ClusterHost, finish_driver, start_driver, wait_for_mark

from raysweep.orchestrator._core import _events as ev
from raysweep.orchestrator._storage._log import read_events

pytestmark = pytest.mark.ray

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def cluster() -> Iterator[ClusterHost]:
    # Three CPU nodes, and one GPU node each of two accelerator types.
    host = ClusterHost(
        [{"num_cpus": 1}] * 3
        + [
            {"num_cpus": 1, "num_gpus": 1, "resources": {f"accelerator_type:{kind}": 1}}
            for kind in ("A100", "H100")
        ]
    )
    try:
        yield host
    finally:
        host.close()


def _node_resources(cluster: ClusterHost) -> dict[str, dict[str, float]]:
    return cluster.ask(op="nodes")["nodes"]


def _run_until_stalled(cluster: ClusterHost, tmp_path: Path, name: str) -> tuple[Any, dict]:
    proc = start_driver(HERE / "multinode_driver.py", cluster, tmp_path, name)
    return proc, wait_for_mark(proc, tmp_path / "marks" / "stalled.json", "trial stalled")


def _attempts(directory: Path, trial: int) -> list[tuple[str, dict[str, Any]]]:
    kinds = {
        ev.EventKind.TRIAL_STARTED,
        ev.EventKind.TRIAL_RESUMED,
        ev.EventKind.TRIAL_INTERRUPTED,
        ev.EventKind.TRIAL_PAUSED,
        ev.EventKind.TRIAL_FINISHED,
    }
    return [
        (str(e.kind), e.payload)
        for e in read_events(directory)
        if e.kind in kinds and (e.trial == trial or e.payload.get("trial") == trial)
    ]


def _check_resumed_elsewhere(
    directory: Path, stalled: dict[str, Any], *, crash: bool
) -> list[tuple[str, dict[str, Any]]]:
    events = _attempts(directory, stalled["trial"])
    kinds = [k for k, _ in events]
    lost = kinds.index("trial_interrupted")
    assert events[lost][1]["crash"] is crash, events[lost]
    # Before the loss: resumed (a promotion) on the node that went; after: a re-run that
    # resumes from the same checkpoint, on another node.
    before = next(p for k, p in reversed(events[:lost]) if k == "trial_resumed")
    assert before["placement"]["nodes"] == [stalled["node"]]
    rerun = next(p for k, p in events[lost:] if k == "trial_started")
    assert rerun["resume_step"] == stalled["first"] - 1
    assert rerun["placement"]["nodes"] and stalled["node"] not in rerun["placement"]["nodes"]
    assert kinds[-1] in ("trial_finished", "trial_paused")
    return events


def test_a_mixed_study_uses_every_kind_of_node_and_promotes_onto_the_h100(
    cluster: ClusterHost, tmp_path: Path
) -> None:
    # First in the module: the tests after it take nodes away.
    finish_driver(start_driver(HERE / "multinode_driver.py", cluster, tmp_path, "mixed", "--mixed"))
    nodes = _node_resources(cluster)
    kind_of = {
        node: next((k for k in ("A100", "H100") if f"accelerator_type:{k}" in have), "CPU")
        for node, have in nodes.items()
    }
    started: list[str] = []
    for event in read_events(tmp_path / "studies" / "mixed"):
        placement = event.payload.get("placement")
        if event.kind == "trial_resumed" and event.payload["rung"] >= 3:
            assert placement["resources"] == {"GPU": 1.0, "CPU": 1.0}
            assert placement["accelerator_type"] == "H100"
            assert [kind_of[n] for n in placement["nodes"]] == ["H100"]
        if event.kind == "trial_started":
            started.append(kind_of[placement["nodes"][0]])
    # New trials took the A100 when it was free and CPU nodes when not; never the H100.
    assert "A100" in started and "CPU" in started and "H100" not in started


def test_a_trial_whose_node_is_removed_resumes_on_another_node(
    cluster: ClusterHost, tmp_path: Path
) -> None:
    proc, stalled = _run_until_stalled(cluster, tmp_path, "removed")
    assert stalled["node"] in cluster.workers and stalled["node"] != cluster.head
    assert cluster.ask(op="remove", node=stalled["node"]) == {"removed": stalled["node"]}
    cluster.workers.remove(stalled["node"])
    finish_driver(proc)
    _check_resumed_elsewhere(tmp_path / "studies" / "removed", stalled, crash=True)


def test_a_preempted_node_does_not_count_against_the_trial(
    cluster: ClusterHost, tmp_path: Path
) -> None:
    proc, stalled = _run_until_stalled(cluster, tmp_path, "preempted")
    assert cluster.ask(op="preempt", node=stalled["node"]) == {"preempted": stalled["node"]}
    cluster.workers.remove(stalled["node"])
    finish_driver(proc)
    _check_resumed_elsewhere(tmp_path / "studies" / "preempted", stalled, crash=False)
