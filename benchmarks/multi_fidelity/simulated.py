"""Simulated multi-fidelity benchmark: raysweep's ASHA / Hyperband against Optuna's pruners.

    .venv/bin/python -m benchmarks.multi_fidelity.simulated --problems lc_digits,hartmann6,branin \\
        --workers 1,2,4,16 --seeds 20
    .venv/bin/python -m benchmarks.multi_fidelity.simulated --quick     # smoke run, prints only

Every method runs in `raysweep.scheduling.simulate` (a discrete-event simulator of N workers;
pure, no Ray) on the same learning curves (`_problems.py`) for the same epoch budget, with
min_resource 1, max_resource 27 and η = 3. Optuna's pruners run through `_optuna_pruners.py`.
Per run: epochs and simulated seconds until the first completed trial (27 steps) whose
full-budget value is in the problem's top 5%, and the regret of the incumbent (the best
completed trial by observed final value, judged by its true full value) at the end of the
budget. Runs go one JSON line each to `benchmarks/multi_fidelity/results/multi_fidelity_runs.jsonl`
(a rerun reuses them), the figure to `benchmarks/multi_fidelity/multi_fidelity.png`, and the text
to the section `multi-fidelity-sim` of `benchmarks/RESULTS.md`.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from benchmarks._shared import results_md, run_cache
from benchmarks.multi_fidelity import _sim_report as report
from benchmarks.multi_fidelity._lc_digits_table import DEFAULT_TABLE
from benchmarks.multi_fidelity._methods import MAX_RESOURCE, METHODS
from benchmarks.multi_fidelity._sim_plot import REGRET_FLOOR, plot
from benchmarks.multi_fidelity._sim_run import PROBLEMS, SimRun, run_one
from benchmarks.multi_fidelity._sim_stats import by_cell

HERE = Path(__file__).resolve().parent
SECTION = "multi-fidelity-sim"
PLOT = HERE / "multi_fidelity.png"
CACHE = HERE / "results" / "multi_fidelity_runs.jsonl"
FULL_BUDGETS = 40


def _names(text: str, known: list[str], what: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"{what} {unknown or text!r}: pick from {known}")
    return names


def _ints(text: str) -> list[int]:
    try:
        found = [int(n) for n in text.split(",") if n.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: pass comma-separated ints") from None
    if not found or min(found) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: pass comma-separated ints >= 1")
    return found


def parse(argv: list[str] | None) -> argparse.Namespace:
    found = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    found.add_argument(
        "--problems",
        type=lambda t: _names(t, list(PROBLEMS), "problems"),
        default=list(PROBLEMS),
        help=f"comma-separated, from {list(PROBLEMS)} (default all)",
    )
    found.add_argument("--workers", type=_ints, default=[1, 2, 4, 16], help="default 1,2,4,16")
    found.add_argument("--seeds", type=int, default=20, help="seeds 1..N per cell (default 20)")
    found.add_argument(
        "--methods",
        type=lambda t: _names(t, list(METHODS), "methods"),
        default=list(METHODS),
        help=f"comma-separated, from {list(METHODS)} (default all)",
    )
    found.add_argument(
        "--budget",
        type=int,
        default=FULL_BUDGETS * MAX_RESOURCE,
        help=f"epochs per run (default {FULL_BUDGETS} full trainings: "
        f"{FULL_BUDGETS * MAX_RESOURCE})",
    )
    found.add_argument("--quick", action="store_true", help="smoke run: small, prints only")
    found.add_argument("--cache", type=Path, default=CACHE, help="the JSON-lines run cache")
    found.add_argument("--out", type=Path, default=results_md.RESULTS, help="the RESULTS.md")
    found.add_argument("--plot", type=Path, default=PLOT, help="the figure's path")
    found.add_argument("--print-only", action="store_true", help="leave --out and --plot alone")
    args = found.parse_args(argv)
    if args.quick:
        args.problems = [p for p in args.problems if p != "lc_digits" or DEFAULT_TABLE.exists()]
        args.workers, args.seeds, args.budget, args.print_only = [1, 4], 3, 10 * MAX_RESOURCE, True
        args.cache = Path(tempfile.gettempdir()) / "raysweep_multi_fidelity_quick.jsonl"
    if args.seeds < 2 or args.budget < MAX_RESOURCE:
        found.error(f"--seeds must be >= 2 and --budget >= {MAX_RESOURCE}")
    if "lc_digits" in args.problems and not DEFAULT_TABLE.exists():
        found.error(
            f"{DEFAULT_TABLE} is missing: run `python -m benchmarks.multi_fidelity.make_lc_digits`"
        )
    return args


def _setup(args: argparse.Namespace) -> str:
    legend = "".join(f"- `{m}`: {METHODS[m].description}\n" for m in args.methods)
    return (
        f"{len(args.problems)} problem(s) × workers {args.workers} × {args.seeds} seeds per "
        f"method; every run has a budget of {args.budget} epochs ({args.budget // MAX_RESOURCE} "
        f"full {MAX_RESOURCE}-step trainings) on every problem. All schedulers use "
        "min_resource 1, max_resource 27, η = 3 and run in `raysweep.scheduling.simulate` "
        "(simulated workers and time: each step takes the problem's seconds for it; scheduler "
        "and sampler compute time is not added). Random proposals are the same sequence per "
        "seed for every method (on LC-Digits no table row repeats in a run; a run with seed s "
        "sees the curves of the table's seed s mod 3, each epoch lasting its measured CPU "
        "time). Optuna's pruners run through `benchmarks/multi_fidelity/_optuna_pruners.py`: an "
        "in-memory Optuna study, `trial.report` at every step and `should_prune()` after it, the "
        "trial told COMPLETE at step 27; its self-check shows it prunes exactly what Optuna's own "
        "`study.optimize` loop prunes "
        "with one worker.\n\nMethods:\n\n"
        f"{legend}\n"
        "Per run: **epochs to top-5%** = epochs run (all workers together) until the first "
        "trial that completed all 27 steps and whose full-budget value is in the problem's "
        'top 5%; a run that never gets one is censored ("not reached"): it counts as past the '
        "budget, so its rank is known but not its value, and a median or quartile that falls on "
        'such runs shows as "> budget". **Sim. seconds** is the simulated wall time to the '
        "same event (censored runs at their end). **Final regret**: the incumbent (best "
        "completed trial by its observed final value) judged by its true full-budget value, "
        "|best − value|, at the end of the budget (∞ when nothing completed). × columns: "
        "ratio of the medians (– when either is past the budget).\n\n"
        f"![median regret against epochs and time]({_link(args.plot, args.out)})\n\n"
        f"The figure: median over seeds of the incumbent's regret (regret 0 drawn at "
        f"{REGRET_FLOOR:g}) against epochs at 1 and 4 workers, and against simulated seconds at "
        "4 workers (each curve cut at its method's median end time).\n"
    )


def _link(path: Path, results: Path) -> str:
    """`path` as a link from the markdown file `results`."""
    return Path(os.path.relpath(path.resolve(), results.resolve().parent)).as_posix()


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    started = time.perf_counter()
    date, machine = results_md.utc_now(), results_md.machine("optuna", "numpy", "scipy")
    plan = [
        SimRun(p, w, m, s, args.budget)
        for p in args.problems
        for w in args.workers
        for s in range(1, args.seeds + 1)
        for m in args.methods
    ]
    records = list(run_cache.run_missing(plan, args.cache, run_one, every_s=15.0).values())
    if len(records) < len(plan):
        raise SystemExit(f"{len(plan) - len(records)} of {len(plan)} runs failed (see above)")
    cells = by_cell(records)
    header = results_md.header(
        "Multi-fidelity scheduling, simulated: ours vs Optuna's SuccessiveHalving / Hyperband",
        cmd=results_md.command(),
        date=date,
        machine_text=machine,
        total_s=time.perf_counter() - started,
    )
    tables = "".join(
        f"### {p}\n\n"
        + report.problem_table(cells, p, args.workers, args.methods, args.budget)
        + "\n"
        for p in args.problems
    )
    goals = results_md.bullets(report.goal_lines(cells, args.problems, args.workers))
    why = report.reading_lines(cells, args.problems, args.workers, MAX_RESOURCE, args.budget)
    reading = results_md.bullets(why)
    compute = sum(r["wall_s"] for r in records) / 60
    header = (
        header.rstrip("\n")
        + f"  \nCompute: {len(records)} runs, {compute:.1f} min in total (sum of per-run times)\n"
    )
    body = f"{header}\n{_setup(args)}\n{tables}### Goals\n\n{goals}\n### Reading\n\n{reading}"
    text = results_md.wrap(SECTION, body)
    print(text)
    if args.print_only:
        return
    plot(cells, args.problems, args.workers, args.methods, args.budget, args.plot)
    results_md.write_section(args.out, SECTION, text)
    print(f"wrote {args.plot} and section {SECTION!r} of {args.out}")


if __name__ == "__main__":
    main()
