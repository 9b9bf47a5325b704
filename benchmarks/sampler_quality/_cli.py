"""What the quality benchmarks' command lines share: options, running the plan, writing."""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks._shared import results_md, run_cache
from benchmarks._shared.stats import ALPHA, smallest_p
from benchmarks.sampler_quality import _runs, _systems
from benchmarks.sampler_quality._systems import SYSTEMS

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def parser(doc: str, *, systems: Sequence[str], cache: str, evals: int) -> argparse.ArgumentParser:
    """The options every quality benchmark takes; a script adds its problem options."""
    found = argparse.ArgumentParser(
        description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    found.add_argument("--seeds", type=int, default=10, help="seeds 1..N per problem (default 10)")
    found.add_argument("--evals", type=int, default=evals, help=f"evaluations per run ({evals})")
    found.add_argument(
        "--systems", nargs="+", default=list(systems), choices=sorted(SYSTEMS), metavar="SYSTEM"
    )
    found.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    found.add_argument("--cache", type=Path, default=RESULTS_DIR / cache, help="JSON-lines cache")
    found.add_argument("--out", type=Path, default=results_md.RESULTS, help="the RESULTS.md")
    found.add_argument(
        "--print-only", action="store_true", help="print the section, leave --out alone"
    )
    found.add_argument("--note", action="append", default=[], help="a line added to the reading")
    return found


def check(found: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.seeds < 2 or args.evals < 1 or args.workers < 1:
        found.error("--seeds must be >= 2 (a test needs two samples), --evals and --workers >= 1")


@dataclass(frozen=True)
class Outcome:
    """The records of every run that exists, and what the section's header needs."""

    records: list[dict[str, Any]]
    missing: list[str]
    header: str
    expected: int
    legend: str


def run(
    bench: str,
    title: str,
    args: argparse.Namespace,
    problems: Sequence[Mapping[str, Any]],
    packages: Sequence[str] = ("optuna", "numpy", "scipy"),
) -> Outcome:
    """Plan, run what the cache lacks, and build the section's header."""
    started = time.perf_counter()
    date = results_md.utc_now()
    machine = results_md.machine(*packages)
    seeds = list(range(1, args.seeds + 1))
    tasks, missing = _runs.plan(bench, args.systems, problems, seeds, args.evals)
    for system in missing:
        print(f"{system}: not available (raysweep.samplers lacks it), skipped", file=sys.stderr)
    done = run_cache.run_missing(tasks, args.cache, _runs.execute, workers=args.workers)
    header = results_md.header(
        title,
        cmd=results_md.command(),
        date=date,
        machine_text=machine,
        total_s=time.perf_counter() - started,
    )
    sample = importlib.import_module(bench).make_problem(1, **problems[0])
    legend = "Systems:\n\n" + _systems.legend(list(args.systems), sample)
    return Outcome(list(done.values()), missing, header, len(tasks), legend)


def coverage(outcome: Outcome, seeds: int) -> list[str]:
    """Reading lines on too few seeds to test, systems not available and runs that failed."""
    lines = []
    if smallest_p(seeds, seeds) >= ALPHA:
        lines.append(
            f"With {seeds} seeds per system the smallest p-value a Mann–Whitney test can give is "
            f"{smallest_p(seeds, seeds):.2f}, so no difference can be significant here: every "
            "comparison is a tie by construction (use at least 4 seeds)."
        )
    lines += [
        f"{SYSTEMS[s].label}: not available when this ran (raysweep.samplers lacks it)."
        for s in outcome.missing
    ]
    if len(outcome.records) < outcome.expected:
        lines.append(
            f"Only {len(outcome.records)} of {outcome.expected} runs finished (see the errors "
            "printed by the run); the tables use those."
        )
    return lines


def finish(
    name: str,
    outcome: Outcome,
    args: argparse.Namespace,
    *,
    setup: str,
    blocks: Sequence[str],
    reading: Sequence[str],
    appendix: str = "",
) -> None:
    """Print section `name` and write it to --out (unless --print-only), laid out as every
    quality section is: the header, `setup` (one paragraph on what ran), the systems, `blocks`
    (tables and their notes, in order), the reading (`reading`, then what `coverage` says and the
    --note lines) and `appendix` (a long table that would bury the reading)."""
    lines = [*reading, *coverage(outcome, args.seeds), *args.note]
    body = (
        f"{outcome.header}\n{setup}\n\n{outcome.legend}\n"
        + "\n".join(blocks)
        + f"\n### Reading\n\n{results_md.bullets(lines)}"
        + (f"\n{appendix}" if appendix else "")
    )
    results_md.publish(name, body, out=args.out, print_only=args.print_only)
