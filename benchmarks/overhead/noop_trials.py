"""Overhead benchmark: how fast raysweep runs no-op trials, against Ray Tune and Optuna.

    .venv/bin/python -m benchmarks.overhead.noop_trials               # the full run (2,000 trials)
    .venv/bin/python -m benchmarks.overhead.noop_trials --trials 100  # a quick one, developing

One Ray session (2 CPUs) runs the systems one after another on the same machine: raysweep (with
a bare Ray actor round trip timed inside its objective, under the same load), Ray Tune, and
Optuna in-process with a journal file. It prints a markdown table and replaces its own section of
`benchmarks/RESULTS.md` (between `<!-- overhead:start -->` and `<!-- overhead:end -->`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks._shared import results_md
from benchmarks._shared.local_ray import local_ray, scratch
from benchmarks.overhead._report import NO_PROBE, SECTION, section
from benchmarks.overhead._systems import Measured, run_optuna, run_raysweep, run_tune, start_probe


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=2000, help="trials per system and R")
    parser.add_argument(
        "--tune-trials",
        type=int,
        default=None,
        help="trials for Ray Tune if it is too slow for --trials (default: --trials)",
    )
    parser.add_argument(
        "--reports", type=int, nargs="+", default=[1, 10], help="reports per trial (R), 1..10"
    )
    parser.add_argument("--skip-tune", action="store_true")
    parser.add_argument("--skip-optuna", action="store_true")
    parser.add_argument("--out", type=Path, default=results_md.RESULTS, help="the RESULTS.md")
    parser.add_argument(
        "--note", action="append", default=[], help="a line added to the reading (repeatable)"
    )
    args = parser.parse_args(argv)
    if args.trials < 1 or any(not 1 <= r <= 10 for r in args.reports):
        parser.error("--trials must be ≥ 1 and each --reports value in 1..10")
    return args


def _run_all(args: argparse.Namespace, work: Path) -> list[Measured]:
    with local_ray(work, object_store_memory=100 * 2**20):
        probe = start_probe()
        results: list[Measured] = []
        for reports in args.reports:
            steps: list[tuple[str, Callable[[Path], Measured]]] = [
                ("raysweep", lambda d, r=reports: run_raysweep(args.trials, r, d, probe)),
                (
                    NO_PROBE,
                    lambda d, r=reports: run_raysweep(args.trials, r, d, None, NO_PROBE),
                ),
            ]
            if not args.skip_tune:
                n = args.tune_trials or args.trials
                steps.append(("Ray Tune", lambda d, r=reports, n=n: run_tune(n, r, d)))
            if not args.skip_optuna:
                steps.append(("Optuna", lambda d, r=reports: run_optuna(args.trials, r, d)))
            for name, run in steps:
                print(f"R={reports}: {name} ...", file=sys.stderr, flush=True)
                measured = run(work / f"{name.replace(' ', '-').lower()}-r{reports}")
                print(
                    f"R={reports}: {name}: {measured.trials} trials in {measured.wall_s:.1f} s",
                    file=sys.stderr,
                    flush=True,
                )
                results.append(measured)
        return results


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    started = time.perf_counter()
    date = results_md.utc_now()
    load_before = os.getloadavg()[0]
    machine = results_md.machine("ray", "optuna")
    with scratch("rsbench-") as work:
        results = _run_all(args, work)
    after = os.getloadavg()[0]
    load_after = f"{results_md.load_average()} (this run itself keeps about 2 busy)"
    notes = list(args.note)
    if load_before > 0.5 or after > 3.0:
        notes.append(
            f"The machine is shared (load average {load_before:.1f} before the run and "
            f"{after:.1f} after it, of which this run accounts for about 2): other work may have "
            "competed with the systems, so treat the numbers as indicative and re-run on a "
            "quiet machine before quoting them."
        )
    if not args.skip_tune and args.tune_trials and args.tune_trials != args.trials:
        notes.append(
            f"Ray Tune ran {args.tune_trials} trials per configuration, not {args.trials}: "
            "its rates are per second and compare directly."
        )
    text = section(
        results,
        args.reports,
        command=results_md.command(),
        date=date,
        machine=machine,
        total_s=time.perf_counter() - started,
        load_after=load_after,
        notes=notes,
    )
    print(text)
    results_md.write_section(args.out, SECTION, text)


if __name__ == "__main__":
    main()
