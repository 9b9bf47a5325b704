"""Parallel asks: near-duplicate points among 8 asks made before any of them is told.

    .venv/bin/python -m benchmarks.ask_tell.parallel_asks                         # the full run
    .venv/bin/python -m benchmarks.ask_tell.parallel_asks --rounds 5 --seeds 1 --print-only

After 20 start-up trials told one at a time, each round asks 8 trials (each with its suggest
calls) before telling any, then tells all 8; R rounds (default 30) per seed. Spaces: the 5-D
continuous [0, 1]^5 (a shifted sphere; `float5` in `_spaces.py`) and the mixed
conditional space. Systems: our TPE (defaults) through the public ask/tell on a local Ray
session (2 CPUs) and as a bare sampler, Optuna's multivariate TPE without and with the constant
liar, and random search. The script prints a markdown section and replaces its part of
`benchmarks/RESULTS.md` (between `<!-- parallel:start -->` and `<!-- parallel:end -->`).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

from benchmarks._shared import results_md
from benchmarks._shared.local_ray import local_ray, scratch
from benchmarks.ask_tell import _parallel_report as report
from benchmarks.ask_tell._parallel_run import BATCH, STARTUP, SYSTEMS, Batch, run
from benchmarks.ask_tell._spaces import distributions

SPACES = {"float5": "5-D continuous [0, 1]^5", "mixed": "mixed conditional"}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rounds", type=int, default=30, help="rounds of 8 asks per seed")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default 3)")
    parser.add_argument("--spaces", nargs="+", default=list(SPACES), choices=list(SPACES))
    parser.add_argument(
        "--systems", nargs="+", default=list(SYSTEMS), choices=list(SYSTEMS), metavar="SYSTEM"
    )
    parser.add_argument("--out", type=Path, default=results_md.RESULTS, help="the RESULTS.md")
    parser.add_argument(
        "--print-only", action="store_true", help="print the section, leave --out alone"
    )
    parser.add_argument("--note", action="append", default=[], help="a line added to the reading")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.seeds < 1:
        parser.error("--rounds and --seeds must be >= 1")
    return args


def _collect(args: argparse.Namespace) -> dict[str, dict[str, list[Batch]]]:
    """Per space and system, the batches of every seed, one after another."""
    found: dict[str, dict[str, list[Batch]]] = {}
    with scratch("rs-parallel-") as work, contextlib.ExitStack() as stack:
        if "ours-asktell" in args.systems:
            stack.enter_context(local_ray(work, log_to_driver=False))
        for space in args.spaces:
            for system in args.systems:
                started = time.perf_counter()
                batches = found.setdefault(space, {}).setdefault(system, [])
                for seed in range(args.seeds):
                    batches += run(system, space, seed, args.rounds, work / "studies")
                print(
                    f"{space} {system}: {time.perf_counter() - started:.1f} s",
                    file=sys.stderr,
                    flush=True,
                )
    return found


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    started = time.perf_counter()
    date = results_md.utc_now()
    machine = results_md.machine("optuna", "ray", "numpy")
    batches = _collect(args)
    total_s = time.perf_counter() - started
    parts = []
    lines: list[str] = []
    for space, by_system in batches.items():
        summaries = {
            name: report.summarize(found, distributions(space)) for name, found in by_system.items()
        }
        parts.append(f"### {SPACES[space]} (`{space}`)\n\n{report.table(summaries)}")
        lines += report.reading(space, summaries, goal=space == "float5")
        lines += report.same_points(space, by_system)
    lines += args.note
    body = (
        "## Parallel asks: near-duplicates among 8 simultaneous asks\n\n"
        f"Command: `{results_md.command()}`  \n"
        f"Date: {date}; run time {total_s / 60:.1f} min  \n"
        f"Machine: {machine}\n\n"
        f"Per seed s (0..{args.seeds - 1}): {STARTUP} start-up trials asked and told one at a "
        f"time, then {args.rounds} rounds of {BATCH} asks (each with its suggest calls) before "
        f"any is told; {report.PAIRS} pairs per round. Systems:\n\n"
        f"{report.legend(args.systems)}\n"
        "A near-duplicate pair: the same parameters, equal categoricals and ints, and every "
        f"float within {report.TOLERANCE:.0%} of its range (a log-scaled float: of its log "
        "range). Random points in [0, 1]^5 are near-duplicates with probability about "
        "0.02^5 ≈ 3e-9 per pair.\n"
        "ᵃ Per round, the smallest distance between two of its points (per parameter: the "
        "difference in units of its range; a differing categorical or a parameter only one "
        "point holds counts 1; the root of the sum of squares), averaged over rounds.\n\n"
        + "\n".join(parts)
        + "\n### Reading\n\n"
        + results_md.bullets(lines)
    )
    results_md.publish("parallel", body, out=args.out, print_only=args.print_only)


if __name__ == "__main__":
    main()
