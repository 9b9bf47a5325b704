"""TPU slices on a real multi-node Ray cluster of simulated hosts: two v5p-16 slices of two hosts
each (Ray labels them from the TPU metadata variables each host is started with), a CPU node
and a fake GPU of each of two accelerator types. A mixed study uses all of them; a slice trial
gets every host of one slice as a gang and runs a function on each, and is re-run on a whole
slice when a host of its own is lost.

One cluster for the module (`cluster_host.py`, a process session of its own); the drivers are
subprocesses, so this test process never joins a Ray cluster.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cluster_host import ClusterHost, finish_driver, start_driver, wait_for_mark

from raysweep.orchestrator._cli import main
from raysweep.orchestrator._storage._log import read_events
from raysweep.scheduling import SLICE_NAME_LABEL, SLICE_WORKER_LABEL

pytestmark = pytest.mark.ray

HERE = Path(__file__).parent


def _tpu_host(slice_name: str, worker: int) -> dict[str, Any]:
    env = {
        "TPU_NAME": slice_name,
        "TPU_WORKER_ID": str(worker),
        "TPU_ACCELERATOR_TYPE": "v5p-16",
        "TPU_TOPOLOGY": "2x2x2",
    }
    return {"num_cpus": 2, "resources": {"TPU": 4}, "env": env}


@pytest.fixture(scope="module")
def cluster() -> Iterator[ClusterHost]:
    host = ClusterHost(
        [_tpu_host(name, worker) for name in ("slice-a", "slice-b") for worker in (0, 1)]
        + [{"num_cpus": 1}]
        + [
            {"num_cpus": 1, "num_gpus": 1, "resources": {f"accelerator_type:{kind}": 1}}
            for kind in ("A100", "H100")
        ]
    )
    try:
        yield host
    finally:
        host.close()


def _slices(cluster: ClusterHost) -> dict[str, list[str]]:
    """Slice name -> its node ids by worker id, as Ray labelled them."""
    labels = cluster.ask(op="labels")["labels"]
    slices: dict[str, dict[int, str]] = {}
    for node, have in labels.items():
        if SLICE_NAME_LABEL in have:
            slices.setdefault(have[SLICE_NAME_LABEL], {})[int(have[SLICE_WORKER_LABEL])] = node
    return {name: [hosts[w] for w in sorted(hosts)] for name, hosts in slices.items()}


def _driver(cluster: ClusterHost, tmp_path: Path, name: str, mode: str) -> Any:
    return start_driver(HERE / "tpu_driver.py", cluster, tmp_path, name, "--mode", mode)


def _events(directory: Path, kind: str) -> list[tuple[int, dict[str, Any]]]:
    return [(e.trial, e.payload) for e in read_events(directory) if e.kind == kind]


def test_a_mixed_study_uses_every_kind_and_a_slice_trial_runs_on_each_host(
    cluster: ClusterHost, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # First in the module: the test after it takes a host away.
    slices = _slices(cluster)
    assert sorted(slices) == ["slice-a", "slice-b"] and all(len(h) == 2 for h in slices.values())
    out = finish_driver(_driver(cluster, tmp_path, "mixed", "mixed"))
    # Every slice's placement group went with its runner; a dead pool's are removed by name.
    groups = json.loads(next(ln for ln in out.splitlines() if ln.startswith("GROUPS "))[7:])
    assert groups == {"held": [], "removed": 1, "orphan": "REMOVED"}
    directory = tmp_path / "studies" / "mixed"
    started = dict(_events(directory, "trial_started"))
    attrs: dict[int, dict[str, Any]] = {}
    for trial, payload in _events(directory, "user_attr"):
        attrs.setdefault(trial, {})[payload["key"]] = payload["value"]
    assert len(started) == 10
    used = set()
    for trial, placement in ((t, p["placement"]) for t, p in started.items()):
        name = placement.get("slice_name")
        if name is None:
            # An alternative: a GPU of either type, or a CPU; no hosts to run on.
            used.add(placement.get("accelerator_type") or "CPU")
            assert placement["resources"] in ({"CPU": 1.0, "GPU": 1.0}, {"CPU": 1.0})
            assert len(placement["nodes"]) == 1 and "hosts" not in attrs[trial]
            continue
        used.add(name)
        # The gang: both hosts of one slice, host 0 first; the objective runs on host 0.
        assert placement["resources"] == {"CPU": 1.0, "TPU": 4.0}
        assert placement["nodes"] == slices[name]
        assert attrs[trial]["runner_node"] == slices[name][0]
        hosts = attrs[trial]["hosts"]
        assert [h["host"] for h in hosts] == [0, 1]
        assert [h["node"] for h in hosts] == slices[name]
        # Each host's call holds that host's four chips, and Ray shows them to it.
        assert all(h["tpu"] == 4.0 and h["visible_chips"] == "0,1,2,3" for h in hosts), hosts
    # Five at once: both slices, then both GPUs, then a CPU while the rest were taken.
    assert used == {"slice-a", "slice-b", "A100", "H100", "CPU"}
    # The facts as the table and `raysweep trials` give them (read from the log, no Ray).
    assert main(["trials", str(directory), "--csv", str(tmp_path / "t.csv")]) == 0
    with open(tmp_path / "t.csv") as f:
        rows = {int(r["number"]): r for r in csv.DictReader(f)}
    for trial, payload in started.items():
        name = payload["placement"].get("slice_name")
        assert rows[trial]["placement_slice"] == (name or "")
        if name is not None:
            assert rows[trial]["placement_nodes"] == " ".join(slices[name])
            # Every host's chips count: 8 chip-seconds per second, beside 2 CPU-seconds.
            assert float(rows[trial]["tpu_chip_s"]) == pytest.approx(
                4 * float(rows[trial]["cpu_s"])
            )
    capsys.readouterr()
    assert main(["trials", str(directory)]) == 0
    shown = capsys.readouterr().out
    assert "(slice slice-a, 2 hosts) @ " in shown and "(slice slice-b, 2 hosts) @ " in shown


def test_a_slice_trial_whose_host_is_lost_is_re_run_on_a_whole_slice(
    cluster: ClusterHost, tmp_path: Path
) -> None:
    slices = _slices(cluster)
    proc = _driver(cluster, tmp_path, "lost", "lost")
    stalled = wait_for_mark(proc, tmp_path / "marks" / "stalled.json", "host stalled")
    lost_slice = next(name for name, hosts in slices.items() if hosts[1] == stalled["node"])
    assert cluster.ask(op="remove", node=stalled["node"]) == {"removed": stalled["node"]}
    finish_driver(proc)
    directory = tmp_path / "studies" / "lost"
    interrupted = [p for t, p in _events(directory, "trial_interrupted") if t == 0]
    assert len(interrupted) == 1 and interrupted[0]["crash"] is True, interrupted
    assert f"host 1 of TPU slice {lost_slice} was lost" in interrupted[0]["reason"]
    runs = [p["placement"] for t, p in _events(directory, "trial_started") if t == 0]
    assert [r["slice_name"] for r in runs] == [lost_slice, next(iter(set(slices) - {lost_slice}))]
    finished = {t: p for t, p in _events(directory, "trial_finished")}
    assert finished[0]["state"] == finished[1]["state"] == "complete"
