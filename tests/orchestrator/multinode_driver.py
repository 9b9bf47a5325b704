"""A driver for the multi-node tests: a promote-mode study whose first resumed trial stalls
(after writing where it runs) until the test takes its node away."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import ray

from raysweep.orchestrator import Trial, create_study
from raysweep.samplers import RandomSampler
from raysweep.scheduling import ASHA

EPOCHS = 9


class StallsOnceResumed:
    """Lower trial numbers score higher; the first attempt that resumes from a checkpoint
    writes `stalled.json` (trial, node, first epoch) and then sleeps until its node is gone."""

    def __init__(self, marks: Path) -> None:
        self.marks = marks

    def __call__(self, trial: Trial) -> float:
        saved = trial.checkpoint()
        first = 1 if saved is None else saved["epoch"] + 1
        stall = self.marks / "stalled.json"
        if saved is not None and not stall.exists():
            node = ray.get_runtime_context().get_node_id()
            stall.write_text(json.dumps({"trial": trial.number, "node": node, "first": first}))
            time.sleep(600)
        value = 0.0
        for epoch in range(first, EPOCHS + 1):
            value = 1.0 - 0.01 * trial.number + 0.001 * epoch
            trial.report(value, epoch, checkpoint=lambda e=epoch: {"epoch": e})
        return value


def quick_curve(trial: Trial) -> float:
    """Lower numbers score higher; each epoch takes a moment, so trials overlap."""
    saved = trial.checkpoint()
    first = 1 if saved is None else saved["epoch"] + 1
    value = 0.0
    for epoch in range(first, EPOCHS + 1):
        time.sleep(0.1)
        value = 1.0 - 0.01 * trial.number + 0.001 * epoch
        trial.report(value, epoch, checkpoint=lambda e=epoch: {"epoch": e})
    return value


def h100_from_rung_3(params: dict, rung: int) -> dict | list:
    """New trials on an A100 when one is free, else a CPU; promoted from rung 3: an H100."""
    if rung >= 3:
        return {"GPU": 1, "CPU": 1, "accelerator_type": "H100"}
    return [{"GPU": 1, "CPU": 1, "accelerator_type": "A100"}, {"CPU": 1}]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--storage", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--marks", required=True)
    parser.add_argument("--mixed", action="store_true", help="the mixed-hardware study")
    args = parser.parse_args()
    ray.init(address=args.address, log_to_driver=False)
    study = create_study(
        name=args.name,
        storage=args.storage,
        sampler=RandomSampler(seed=3),
        scheduler=ASHA(min_resource=1, max_resource=EPOCHS, reduction_factor=3, mode="promote"),
    )
    if args.mixed:
        study.optimize(
            quick_curve,
            n_trials=9,
            max_concurrent=4,
            resources=h100_from_rung_3,
            show_progress=False,
        )
    else:
        study.optimize(
            StallsOnceResumed(Path(args.marks)),
            n_trials=3,
            max_concurrent=1,
            resources={"CPU": 1},
            show_progress=False,
        )
    print("finished", flush=True)


if __name__ == "__main__":
    main()
