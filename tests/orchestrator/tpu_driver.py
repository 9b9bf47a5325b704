"""A driver for the TPU slice tests, run against a cluster of simulated TPU hosts.

`--mode mixed`: trials take a v5p-16 slice (two hosts) when one is free, else a GPU, else a
CPU; a slice trial runs a function on every host of its slice and keeps what each host saw.
`--mode lost`: the first attempt of trial 0 stalls on host 1 of its slice (after writing where)
until the test takes that host away.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import ray
from ray.util.placement_group import placement_group, placement_group_table

from raysweep.orchestrator import TPUSlice, Trial, create_study
from raysweep.orchestrator._ray._pool import remove_slice_groups, slice_group_prefix
from raysweep.samplers import RandomSampler

SLICE = TPUSlice(version="v5p", topology="2x2x2")
# A slice when one is free, else a GPU of either type, else a CPU.
EVERY_KIND = [
    SLICE,
    {"GPU": 1, "CPU": 1, "accelerator_type": "A100"},
    {"GPU": 1, "CPU": 1, "accelerator_type": "H100"},
    {"CPU": 1},
]


def host_facts(host: int) -> dict[str, Any]:
    context = ray.get_runtime_context()
    return {
        "host": host,
        "node": context.get_node_id(),
        "visible_chips": os.environ.get("TPU_VISIBLE_CHIPS"),
        "tpu": context.get_assigned_resources().get("TPU"),
    }


def mixed(trial: Trial) -> float:
    x = trial.suggest_float("x", 0.0, 1.0)
    placement = trial.placement
    assert placement is not None
    trial.set_user_attr("runner_node", ray.get_runtime_context().get_node_id())
    if placement.slice_name is not None:
        trial.set_user_attr("hosts", trial.run_on_hosts(host_facts))
    time.sleep(1.5)  # long enough for trials to overlap: every kind of node is used
    return x


class StallsOnHost1:
    def __init__(self, marks: Path) -> None:
        self.marks = marks

    def __call__(self, trial: Trial) -> float:
        stall = self.marks / "stalled.json"
        first = trial.number == 0 and trial.attempt == 0
        number = trial.number

        def on_host(host: int) -> int:
            if first and host == 1:
                node = ray.get_runtime_context().get_node_id()
                stall.write_text(json.dumps({"trial": number, "node": node}))
                time.sleep(600)
            return host

        return float(sum(trial.run_on_hosts(on_host)) + number)


def _groups_left() -> dict[str, Any]:
    """The slice groups still held once the call returned, and what removing a dead pool's
    groups does (a group of a pool that never was, made here for it)."""
    held = [
        e["name"]
        for e in placement_group_table().values()
        if (e.get("name") or "").startswith("raysweep-slice-") and e["state"] != "REMOVED"
    ]
    orphan = placement_group([{"CPU": 0.01}], name=slice_group_prefix("gone") + "runner-x")
    ray.get(orphan.ready(), timeout=60)
    removed = remove_slice_groups("gone")
    state = placement_group_table(orphan)["state"]
    return {"held": held, "removed": removed, "orphan": state}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--storage", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--marks", type=Path, required=True)
    parser.add_argument("--mode", choices=("mixed", "lost"), required=True)
    args = parser.parse_args()
    ray.init(address=args.address, log_to_driver=False)
    study = create_study(
        storage=args.storage, name=args.name, sampler=RandomSampler(seed=0), direction="maximize"
    )
    if args.mode == "mixed":
        study.optimize(
            mixed, n_trials=10, max_concurrent=5, resources=EVERY_KIND, show_progress=False
        )
        print("GROUPS " + json.dumps(_groups_left()), flush=True)
    else:
        study.optimize(
            StallsOnHost1(args.marks),
            n_trials=2,
            max_concurrent=1,
            resources=SLICE,
            show_progress=False,
        )
    print("finished", flush=True)


if __name__ == "__main__":
    main()
