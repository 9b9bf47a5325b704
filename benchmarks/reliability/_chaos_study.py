"""The chaos benchmark's study: a driver process and the objective its runners call.

Run as ``python -m benchmarks.reliability._chaos_study --address ... --storage ... --name ...``
by :mod:`benchmarks.reliability.chaos`, which SIGKILLs it at will. The driver keeps a file of
its study's actor pids up to date (they change when Ray restarts an actor), and every runner
leaves a file named after its pid, so that the harness kills exactly the processes of this
study, by pid.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path

import ray

from raysweep.orchestrator import StudyLockedError, Trial, create_study
from raysweep.samplers import RandomSampler

STEPS = 5
SEED = 11


class ChaosObjective:
    """A value fixed by the trial's parameters, reported over `STEPS` short steps."""

    def __init__(self, pid_dir: str, step_s: float) -> None:
        self.pid_dir = pid_dir
        self.step_s = step_s

    def __call__(self, trial: Trial) -> float:
        Path(self.pid_dir, f"runner-{os.getpid()}").touch()
        x = trial.suggest_float("x", -3.0, 3.0)
        y = trial.suggest_int("y", 0, 9)
        value = 0.0
        for step in range(1, STEPS + 1):
            time.sleep(self.step_s)
            value = (x - 1.0) ** 2 + 0.1 * y + 1.0 / step
            trial.report(value, step)
        return value


def _publish_actor_pids(study: object, path: Path) -> None:
    actors = study._actors  # type: ignore[attr-defined]
    while True:
        pids = {}
        for role, handle in (("scheduler", actors.scheduler), ("sampler", actors.sampler)):
            try:
                pids[role] = ray.get(handle.pid.remote(), timeout=2)
            except Exception:
                continue  # restarting: the next round has it
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(pids))
        temporary.replace(path)
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--storage", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--n-trials", type=int, required=True)
    parser.add_argument("--max-concurrent", type=int, required=True)
    parser.add_argument("--pid-dir", required=True)
    parser.add_argument("--step-s", type=float, default=0.05)
    parser.add_argument(
        "--lease-wait",
        type=float,
        default=0.0,
        help="seconds to keep trying while another writer holds the study (one stalled past "
        "its lease is taken over once its heartbeat is 30 s old)",
    )
    args = parser.parse_args()
    ray.init(address=args.address, log_to_driver=False)
    deadline = time.monotonic() + args.lease_wait
    while True:
        try:
            study = create_study(
                name=args.name,
                storage=args.storage,
                sampler=RandomSampler(seed=SEED),
                load_if_exists=True,
            )
            break
        except StudyLockedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)
    pids = Path(args.pid_dir, "actors.json")
    threading.Thread(target=_publish_actor_pids, args=(study, pids), daemon=True).start()
    study.optimize(
        ChaosObjective(args.pid_dir, args.step_s),
        n_trials=args.n_trials,
        max_concurrent=args.max_concurrent,
        show_progress=False,
    )
    study.close()
    print("finished", flush=True)


if __name__ == "__main__":
    main()
