"""A driver process for the fault tests: runs a study against an existing Ray cluster."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import cloudpickle
import objectives
import ray

from raysweep.orchestrator import create_study
from raysweep.samplers import RandomSampler


def command(address: str, storage: Path, name: str, n_trials: int, *options: str) -> list[str]:
    """The command line that runs this driver (tests start it as a subprocess)."""
    return [
        sys.executable,
        __file__,
        "--address",
        address,
        "--storage",
        str(storage),
        "--name",
        name,
        "--n-trials",
        str(n_trials),
        *options,
    ]


def main() -> None:
    # Ctrl-C must raise KeyboardInterrupt here as in a user's terminal, even when the test run
    # was started in the background by a non-interactive shell: such a process inherits SIGINT
    # ignored, and Python then leaves it ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--storage", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--n-trials", type=int, required=True)
    parser.add_argument("--objective", default="slow_quadratic")
    parser.add_argument("--max-concurrent", type=int, default=2)
    parser.add_argument("--detach", action="store_true", help="optimize(detach=True), then exit")
    args = parser.parse_args()
    cloudpickle.register_pickle_by_value(objectives)
    ray.init(address=args.address, log_to_driver=False)
    study = create_study(
        name=args.name, storage=args.storage, sampler=RandomSampler(seed=7), load_if_exists=True
    )
    print("opened", flush=True)
    run = study.optimize(
        getattr(objectives, args.objective),
        # 0: no n_trials (the study runs until it is stopped)
        n_trials=args.n_trials or None,
        max_concurrent=args.max_concurrent,
        show_progress=False,
        detach=args.detach,
    )
    print("detached" if run is not None else "finished", flush=True)


if __name__ == "__main__":
    main()
