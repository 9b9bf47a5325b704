"""Sampler latency: the time to propose one trial with a history of 100 / 1,000 / 10,000 trials,
raysweep's TPE beside Optuna's TPE, in the same process on the same machine.

    .venv/bin/python -m benchmarks.ask_tell.latency                           # the full run
    .venv/bin/python -m benchmarks.ask_tell.latency --sizes 100 1000 --proposals 5 --print-only

Spaces: 5-D and 20-D floats, and the mixed conditional space (see `_spaces.py`). A
proposal is `ask` plus the objective's suggest calls. Ours is timed as a bare sampler (in-process
over pre-built records) and through the public ask/tell on a local Ray session (2 CPUs);
Optuna's ask/tell is in-process, one level for both (see `_latency_run.py`). Each space grows one
history per system 100 → 1,000 → 10,000, so filling is paid once. The script prints a markdown
section and replaces its part of `benchmarks/RESULTS.md` (between `<!-- latency:start -->` and
`<!-- latency:end -->`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from pathlib import Path

from benchmarks._shared import results_md
from benchmarks._shared.local_ray import local_ray, scratch
from benchmarks.ask_tell import _latency_report as report
from benchmarks.ask_tell._latency_run import Measured, defaults_differ, run_space
from benchmarks.ask_tell._ray_study import fsync_ms
from benchmarks.ask_tell._spaces import SPACES

DEFAULT_SIZES = [100, 1000, 10000]
# Timed proposals per history size: fewer where each one is slow.
DEFAULT_PROPOSALS = {100: 60, 1000: 40, 10000: 20}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=DEFAULT_SIZES)
    parser.add_argument("--spaces", nargs="+", default=list(SPACES), choices=SPACES)
    parser.add_argument(
        "--proposals",
        type=int,
        nargs="+",
        default=None,
        help="timed proposals K: one for every size, or one per size "
        f"(default {DEFAULT_PROPOSALS}, 20 for other sizes)",
    )
    parser.add_argument(
        "--storage",
        type=Path,
        default=None,
        help="folder for our studies' logs (default: a temporary folder); every ask and tell "
        "fsyncs there, e.g. /dev/shm leaves the disk out",
    )
    parser.add_argument("--out", type=Path, default=results_md.RESULTS, help="the RESULTS.md")
    parser.add_argument(
        "--print-only", action="store_true", help="print the section, leave --out alone"
    )
    parser.add_argument("--note", action="append", default=[], help="a line added to the reading")
    args = parser.parse_args(argv)
    args.sizes = sorted(set(args.sizes))
    if args.sizes[0] < 1:
        parser.error("--sizes must be >= 1")
    if args.proposals is None:
        args.proposals = [DEFAULT_PROPOSALS.get(size, 20) for size in args.sizes]
    elif len(args.proposals) == 1:
        args.proposals = args.proposals * len(args.sizes)
    if len(args.proposals) != len(args.sizes) or min(args.proposals) < 1:
        parser.error("--proposals takes one K >= 1, or one per size")
    return args


def _measure(args: argparse.Namespace, with_defaults: bool) -> tuple[Measured, float]:
    """The cells, and the fsync time (ms) in the studies' folder."""
    measured = Measured()
    with scratch("rs-latency-") as work, contextlib.ExitStack() as stack:
        studies = work / "studies"
        if args.storage is not None:
            studies = stack.enter_context(scratch("rs-latency-", args.storage))
        with local_ray(work, log_to_driver=False):
            fsync = fsync_ms(studies)
            for space in args.spaces:
                plan = list(zip(args.sizes, args.proposals, strict=True))
                run_space(space, plan, studies, with_defaults, measured)
    return measured, fsync


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    started = time.perf_counter()
    date = results_md.utc_now()
    machine = results_md.machine("optuna", "ray", "numpy")
    load_before = os.getloadavg()[0]
    with_defaults = defaults_differ()
    measured, fsync = _measure(args, with_defaults)
    total_s = time.perf_counter() - started
    where = "a temporary folder" if args.storage is None else f"`{args.storage}`"
    notes = [
        f"Each ask and each tell of ours commits the study's log with an fsync; appending 500 "
        f"bytes and fsyncing in the studies' folder ({where}) took {fsync:.2f} ms (median of "
        "20) here, part of every ask/tell time above. Optuna's `InMemoryStorage` writes "
        "nothing.",
        *args.note,
    ]
    if load_before > 0.5:
        notes.append(
            f"The machine is shared (load average {load_before:.1f} at the start): other work "
            "may have competed with the systems, so treat the numbers as indicative."
        )
    lines = [
        *report.goal_lines(measured, args.spaces, args.sizes),
        *report.overhead_lines(measured, args.spaces, args.sizes),
        *notes,
    ]
    body = (
        "## Sampler latency: one proposal with N trials in the history\n\n"
        f"Command: `{results_md.command()}`  \n"
        f"Date: {date}; run time {total_s / 60:.1f} min  \n"
        f"Machine: {machine}\n\n"
        f"{report.footnotes(with_defaults)}\n"
        f"{report.table(measured, args.spaces, args.sizes)}\n"
        f"### Reading\n\n{results_md.bullets(lines)}"
    )
    results_md.publish("latency", body, out=args.out, print_only=args.print_only)


if __name__ == "__main__":
    main()
