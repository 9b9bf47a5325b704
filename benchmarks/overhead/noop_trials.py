"""Overhead benchmark: how fast raysweep runs no-op trials, against Ray Tune and Optuna.

    .venv/bin/python benchmarks/overhead.py                 # the full run (2,000 trials)
    .venv/bin/python benchmarks/overhead.py --trials 100    # a quick one while developing

One Ray session (2 CPUs) runs the systems one after another on the same machine: raysweep (with
a bare Ray actor round trip timed inside its objective, under the same load), Ray Tune, and
Optuna in-process with a journal file. It prints a markdown table and replaces its own section of
`benchmarks/RESULTS.md` (between `<!-- overhead:start -->` and `<!-- overhead:end -->`).
"""

from __future__ import annotations

import os

os.environ["RAY_AUTH_MODE"] = "disabled"
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"

import argparse
import contextlib
import datetime
import platform
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import optuna
import ray
from _overhead_report import NO_PROBE, section, write_section
from _overhead_systems import Measured, run_optuna, run_raysweep, run_tune, start_probe
from _results_md import cpu_model, git_commit

HERE = Path(__file__).resolve().parent


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
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument(
        "--note", action="append", default=[], help="a line added to the reading (repeatable)"
    )
    args = parser.parse_args(argv)
    if args.trials < 1 or any(not 1 <= r <= 10 for r in args.reports):
        parser.error("--trials must be ≥ 1 and each --reports value in 1..10")
    return args


def _command() -> str:
    python = Path(sys.executable)
    with contextlib.suppress(ValueError):
        python = python.relative_to(Path.cwd())
    return shlex.join([str(python), *sys.argv])


def _load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def _machine() -> str:
    return (
        f"{len(os.sched_getaffinity(0))} CPUs (`nproc`), {cpu_model()}, Python "
        f"{platform.python_version()}, Ray {ray.__version__}, Optuna {optuna.__version__}, "
        f"raysweep at {git_commit()}"
    )


def _run_all(args: argparse.Namespace, work: Path) -> list[Measured]:
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 2**20)
    try:
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
    finally:
        ray.shutdown()


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    started = time.perf_counter()
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load_before = os.getloadavg()[0]
    machine = f"{_machine()}; load average (1/5/15 min) before the run {_load()}"
    work = Path(tempfile.mkdtemp(prefix="rsbench-"))
    # A Ray temp dir of our own: the default one is shared with anything else on the machine.
    (work / "ray").mkdir()
    os.environ["RAY_TMPDIR"] = str(work)
    try:
        results = _run_all(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    after = os.getloadavg()[0]
    load_after = f"{_load()} (this run itself keeps about 2 busy)"
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
        command=_command(),
        date=date,
        machine=machine,
        total_s=time.perf_counter() - started,
        load_after=load_after,
        notes=notes,
    )
    print(text)
    write_section(args.out, text)


if __name__ == "__main__":
    main()
