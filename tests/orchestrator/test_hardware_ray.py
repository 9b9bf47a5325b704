"""Hardware accounting end to end: resource-seconds and energy per trial and per study, and
energy as an objective. The CPU counters are a recorded powercap tree that the objective itself
advances (this machine has neither RAPL nor NVML), found by the runners through
RAYSWEEP_POWERCAP_ROOT in the job's runtime_env, as a container that mounts the host's tree
elsewhere would set it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("ray_session")

DRIVER = r"""
import json, sys
from pathlib import Path
import ray
from raysweep.orchestrator import create_study
from raysweep.orchestrator._storage._log import read_events
from raysweep.samplers import RandomSampler

address, storage, tree = sys.argv[1:4]
counter = Path(tree) / "intel-rapl:0" / "energy_uj"
ray.init(address=address, log_to_driver=False,
         runtime_env={"env_vars": {"RAYSWEEP_POWERCAP_ROOT": tree}})

def objective(trial):
    x = trial.suggest_float("x", 0.0, 1.0)
    for epoch in range(1, 4):
        # 2 J drawn by the package per epoch; this trial holds 1 of the node's 2 CPUs.
        counter.write_text(str(int(counter.read_text()) + 2_000_000))
        trial.report(x * epoch, epoch)
    return x, trial.energy().joules

study = create_study(name="energy", storage=storage, sampler=RandomSampler(seed=1),
                     directions=["maximize", "minimize"])
study.optimize(objective, n_trials=3, max_concurrent=1, resources={"CPU": 1},
               show_progress=False)
table = study.trials_table().to_pylist()
finished = [e.payload for e in read_events(study.directory) if e.kind == "trial_finished"]
print("RESULT " + json.dumps({"table": table, "use": study.hardware_use(),
                              "finished": finished}, default=str))
study.close()
"""


def _powercap_tree(root: Path) -> Path:
    zone = root / "intel-rapl:0"
    zone.mkdir(parents=True)
    (zone / "name").write_text("package-0\n")
    (zone / "energy_uj").write_text("1000\n")
    (zone / "max_energy_range_uj").write_text("262143328850\n")
    sub = zone / "intel-rapl:0:0"  # a part of the package: never counted twice
    sub.mkdir()
    (sub / "name").write_text("core\n")
    (sub / "energy_uj").write_text("5\n")
    (sub / "max_energy_range_uj").write_text("262143328850\n")
    return root


def test_each_trial_is_attributed_its_share_of_the_measured_energy_and_held_seconds(
    ray_session: str, tmp_path: Path
) -> None:
    tree = _powercap_tree(tmp_path / "powercap")
    out = subprocess.run(
        [sys.executable, "-c", DRIVER, ray_session, str(tmp_path / "studies"), str(tree)],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, RAY_ADDRESS=""),
    )
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line is not None, out.stdout + out.stderr
    result = json.loads(line[len("RESULT ") :])
    rows = result["table"]
    assert len(rows) == 3 and all(r["state"] == "complete" for r in rows)
    for row in rows:
        # 3 epochs x 2 J on the package, half of the node's CPUs held; no GPU held: 0 J.
        assert row["cpu_joules"] == pytest.approx(3.0)
        assert row["gpu_joules"] == 0.0
        assert row["values_1"] == pytest.approx(3.0)  # the objective's own figure, so far
        assert 0.0 < row["cpu_s"] <= row["duration_s"] + 0.5
        assert row["gpu_s"] == 0.0 and row["tpu_chip_s"] == 0.0
    use = result["use"]
    assert use["cpu_joules"] == pytest.approx(9.0) and use["energy_unknown_trials"] == 0
    assert use["cpu_s"] == pytest.approx(sum(r["cpu_s"] for r in rows))
    for payload in result["finished"]:
        energy = payload["energy"]
        assert energy["attribution"] == "apportioned by share"
        assert energy["cpu_package_joules"] == pytest.approx(6.0)
        assert energy["cpu_share"] == 0.5 and energy["gpu_share"] == 0.0
