"""Placement, simulated: raysweep's planner against first-come-first-served with one fixed shape.

    .venv/bin/python -m benchmarks.placement.simulated           # the full run, into RESULTS.md
    .venv/bin/python -m benchmarks.placement.simulated --quick   # smoke run, prints only

One study, ASHA in promote mode (rungs 1, 3, 9; 27 epochs; η = 3) over a fixed number of trials
with LC-Digits learning curves, placed on a simulated heterogeneous cluster (`_model.py`) by
each policy in turn, in a discrete-event loop (`_loop.py`; no Ray). raysweep's policies call
`raysweep.scheduling.plan_placement` and apply its decisions; the FCFS ones are what
`tune.with_resources` gives: one shape for every trial, started in order where it fits. Per run:
the makespan (until the last trial of the budget has finished or stays paused for good), the
busy share of the cluster's CPUs and GPUs while some work waited to start, and the epochs (and
time) until the first completed trial whose full-budget value is in LC-Digits' top 5%. Writes
the section `placement-sim` of `benchmarks/RESULTS.md`.
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from benchmarks._shared import results_md
from benchmarks.multi_fidelity._problems import LC_DIGITS_SEEDS, MFProblem, lc_digits
from benchmarks.placement import _report as report
from benchmarks.placement._loop import ETA, MAX_RESOURCE, Result, Settings, run_policy
from benchmarks.placement._model import (
    CLUSTER,
    POLICIES,
    describe_cluster,
    describe_step_times,
)
from raysweep.scheduling import PlacementSettings

SECTION = "placement-sim"
TITLE = "Placement, simulated: planner vs first-come-first-served with one fixed shape"
# The planner's own defaults, in seconds; the run turns them into time units with --unit-s.
_DEFAULTS = PlacementSettings(max_runners=1)


def max_runners() -> int:
    """As many runners as the cluster holds at once: a quarter per GPU-node CPU (four per
    card), eight CPUs each on the CPU-only nodes."""
    return sum(min(4 * n.gpus, n.cpus) if n.gpus else n.cpus // 8 for n in CLUSTER)


def settings(n_trials: int, unit_s: float) -> Settings:
    return Settings(
        n_trials=n_trials,
        max_runners=max_runners(),
        idle_grace=_DEFAULTS.idle_grace_s / unit_s,
        reserve_after=_DEFAULTS.reserve_after_s / unit_s,
    )


def problem(seed: int) -> MFProblem:
    # CPU seconds, as the multi-fidelity benchmark reads the table; the seconds are unused here.
    return lc_digits(seed % LC_DIGITS_SEEDS, seconds="cpu")


def _one(job: tuple[str, int, int, float]) -> Result:
    key, seed, n_trials, unit_s = job
    started = time.perf_counter()
    result = run_policy(POLICIES[key], CLUSTER, problem(seed), seed, settings(n_trials, unit_s))
    result.wall_s = time.perf_counter() - started
    return result


def parse(argv: list[str] | None) -> argparse.Namespace:
    found = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    found.add_argument("--trials", type=int, default=486, help="trials per study (default 486)")
    found.add_argument("--seeds", type=int, default=5, help="seeds 1..N (default 5)")
    found.add_argument(
        "--policies",
        type=lambda text: [p.strip() for p in text.split(",") if p.strip()],
        default=list(POLICIES),
        help=f"comma-separated, from {list(POLICIES)} (default all)",
    )
    found.add_argument(
        "--unit-s",
        type=float,
        default=60.0,
        help="seconds of real time one time unit (an epoch on a whole H100) stands for; the "
        "planner's idle grace and reservation delay are its defaults in seconds (default 60)",
    )
    found.add_argument(
        "--processes",
        type=int,
        default=min(2, len(os.sched_getaffinity(0))),
        help="runs at once, each in its own process (default 2, or 1 on one CPU)",
    )
    found.add_argument("--quick", action="store_true", help="smoke run: small, prints only")
    found.add_argument("--out", type=Path, default=results_md.RESULTS, help="the RESULTS.md")
    found.add_argument("--print-only", action="store_true", help="leave --out alone")
    args = found.parse_args(argv)
    if args.quick:
        args.trials, args.seeds, args.print_only = 81, 2, True
    unknown = [p for p in args.policies if p not in POLICIES]
    if unknown or not args.policies:
        found.error(f"--policies {unknown or args.policies}: pick from {list(POLICIES)}")
    if args.trials < 1 or args.seeds < 1 or args.unit_s <= 0 or args.processes < 1:
        found.error("--trials, --seeds and --processes must be >= 1, --unit-s > 0")
    return args


def _setup(args: argparse.Namespace) -> str:
    plan = settings(args.trials, args.unit_s)
    legend = "".join(
        f"- **{POLICIES[k].name}** (`{k}`): {POLICIES[k].description}.\n" for k in args.policies
    )
    return (
        f"**Cluster**: {describe_cluster(CLUSTER)}. **Step time** (time units per epoch, the "
        f"same for every configuration): {describe_step_times()}; no slowdown from neighbours "
        "on a card; starting a runner and resuming from a checkpoint cost nothing. "
        f"**Study**: ASHA promote mode (min 1, max {MAX_RESOURCE} epochs, η = {ETA}: rungs 1, 3, "
        f"9), {args.trials} trials, LC-Digits curves (seed s sees the table's seed s mod "
        f"{LC_DIGITS_SEEDS}); trial n's configuration is the same for every policy of a seed. "
        f"**Planner**: `max_runners` {plan.max_runners} (what the cluster holds at once), its "
        f"default idle grace ({_DEFAULTS.idle_grace_s:g} s) and reservation delay "
        f"({_DEFAULTS.reserve_after_s:g} s), with one time unit standing for "
        f"{args.unit_s:g} s.\n\nPolicies:\n\n{legend}\n"
        "**Makespan**: time until the last step of the study (all trials complete, or paused "
        "with no promotion left). **Busy while queued**: the share of the cluster's CPUs "
        f"({report_totals('CPU')}) and GPUs ({report_totals('GPU')}) held by runners that are "
        "running a step, over the time some work (a new trial or a promotion) waited to start; "
        "an idle runner's room counts as not busy. **÷** columns: makespan over the same "
        "seed's FCFS run; mean rows: ratio of the mean makespans. **Epochs to top-5%**: epochs "
        "run (all runners together) until the first completed trial whose full-budget value is "
        "in LC-Digits' top 5%; time to top-5% is when.\n"
    )


def report_totals(kind: str) -> str:
    return f"{sum(n.total().get(kind, 0.0) for n in CLUSTER):g}"


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    started = time.perf_counter()
    date, machine = results_md.utc_now(), results_md.machine("numpy", "pyarrow")
    jobs = [
        (k, s, args.trials, args.unit_s) for s in range(1, args.seeds + 1) for k in args.policies
    ]
    if args.processes > 1:
        with ProcessPoolExecutor(args.processes) as pool:
            results = list(pool.map(_one, jobs))
    else:
        results = [_one(job) for job in jobs]
    runs: dict[str, dict[int, Result]] = {k: {} for k in args.policies}
    for result in results:
        runs[result.policy][result.seed] = result
    header = results_md.header(
        TITLE,
        cmd=results_md.command(),
        date=date,
        machine_text=machine,
        total_s=time.perf_counter() - started,
    )
    compute = sum(r.wall_s for r in results)
    header = (
        header.rstrip("\n")
        + f"  \nCompute: {len(results)} runs, {compute:.0f} s in total (sum of per-run times, "
        f"{args.processes} at once)\n"
    )
    goals = results_md.bullets(report.goal_lines(runs))
    reading = results_md.bullets(report.reading_lines(runs))
    body = (
        f"{header}\n{_setup(args)}\n{report.main_table(runs)}\n"
        f"**Where the time goes** (means over seeds; waits in time units)\n\n"
        f"{report.detail_table(runs)}\n### Goals\n\n{goals}\n### Reading\n\n{reading}"
    )
    results_md.publish(SECTION, body, out=args.out, print_only=args.print_only)


if __name__ == "__main__":
    main()
