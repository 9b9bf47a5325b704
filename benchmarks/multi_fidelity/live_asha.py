"""Live multi-fidelity benchmark on Ray: raysweep's ASHA (promote, stop) against Ray Tune's ASHA.

    .venv/bin/python -m benchmarks.multi_fidelity.live_asha --seeds 10 --trials 81  # (~12 min)
    .venv/bin/python -m benchmarks.multi_fidelity.live_asha --quick     # smoke: 1 seed, 27 trials

A time-compressed replay of LC-Digits (`_problems.lc_digits`): a trial's objective sleeps for
each epoch a fixed multiple of the CPU seconds the table measured for it and reports the table's
validation accuracy. Every system gets the same trials in the same order per seed (see
`_live_metrics`) and runs 2 at a time with one CPU each, on one local Ray session of 2 CPUs.
Finished runs go one JSON line each to `benchmarks/multi_fidelity/results/live_asha.jsonl` and a
rerun reuses them; the section between `<!-- multi-fidelity-live:start -->` and
`<!-- multi-fidelity-live:end -->` of `benchmarks/RESULTS.md` is replaced (not by `--quick`,
which caches nothing).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path
from typing import IO, Any

from benchmarks._shared.local_ray import local_ray, scratch
from benchmarks._shared.results_md import RESULTS, machine, utc_now, wrap, write_section
from benchmarks._shared.run_cache import append_run, load_runs
from benchmarks.multi_fidelity._live_metrics import MEDIAN_EPOCH_S, scale, summarize, workload
from benchmarks.multi_fidelity._live_reading import reading
from benchmarks.multi_fidelity._live_report import SECTION, section
from benchmarks.multi_fidelity._live_systems import SYSTEMS, run_system

HERE = Path(__file__).resolve().parent
CACHE = HERE / "results" / "live_asha.jsonl"
# Bump when a change to the workload, the systems or the metrics makes cached runs stale.
VERSION = 2


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..S-1 per system")
    parser.add_argument("--trials", type=int, default=81, help="trials per run (N)")
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=SYSTEMS)
    parser.add_argument("--quick", action="store_true", help="1 seed, 27 trials, no cache/RESULTS")
    parser.add_argument("--cache", type=Path, default=CACHE, help="the JSON-lines run cache")
    parser.add_argument("--out", type=Path, default=RESULTS, help="the RESULTS.md")
    parser.add_argument(
        "--note", action="append", default=[], help="a line added to the reading (repeatable)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.trials = 1, 27
    if args.seeds < 1 or not 1 <= args.trials <= 512:
        parser.error("--seeds must be ≥ 1 and --trials in 1..512")
    return args


def _key(system: str, seed: int, trials: int, factor: float) -> str:
    return f"{system}|seed={seed}|trials={trials}|scale={factor:.4f}|v={VERSION}"


def _run_missing(
    args: argparse.Namespace, factor: float, cache: dict[str, dict[str, Any]], work: Path
) -> float:
    """Run every (seed, system) not in `cache`, adding each to it (and to the file unless
    --quick); return the seconds spent."""
    plan = [
        (seed, system)
        for seed in range(args.seeds)
        # Rotating the order per seed spreads any drift of the machine's load over the systems.
        for system in (args.systems[seed % len(args.systems) :] + args.systems)[: len(args.systems)]
        if _key(system, seed, args.trials, factor) not in cache
    ]
    print(
        f"{args.seeds * len(args.systems)} runs, {len(plan)} to run (N={args.trials}, "
        f"scale {factor:.3f})",
        file=sys.stderr,
        flush=True,
    )
    if not plan:
        return 0.0
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        stack.enter_context(local_ray(work, object_store_memory=200 * 2**20))
        handle: IO[str] | None = None  # --quick caches nothing
        if not args.quick:
            args.cache.parent.mkdir(parents=True, exist_ok=True)
            handle = stack.enter_context(args.cache.open("a", encoding="utf-8"))
        for count, (seed, system) in enumerate(plan, 1):
            load = workload(seed, args.trials, factor)
            trace = run_system(system, load.curves, work / f"{system}-{seed}", seed)
            result = summarize(load, trace)
            key = _key(system, seed, args.trials, factor)
            record = {
                "key": key,
                "system": system,
                "seed": seed,
                "trials": args.trials,
                "scale": round(factor, 6),
                "date": utc_now(),
                "result": result,
            }
            cache[key] = record
            if handle is not None:
                append_run(handle, record)
            elapsed = time.perf_counter() - started
            print(
                f"[{count}/{len(plan)} {elapsed / 60:.1f} min] seed {seed} {system}: "
                f"{result['total_epochs']} epochs in {result['wall_s']:.1f} s; target after "
                f"{result['epochs_to_target']} epochs / {result['time_to_target_s']} s; regret "
                f"{result['final_regret']}; out of order {result['out_of_order']}",
                file=sys.stderr,
                flush=True,
            )
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    factor = scale()
    date, machine_text = utc_now(), machine("ray")
    cache = {} if args.quick else load_runs(args.cache)
    with scratch("rslive-") as work:
        spent = _run_missing(args, factor, cache, work)
    records = [
        cache[k]
        for seed in range(args.seeds)
        for system in args.systems
        if (k := _key(system, seed, args.trials, factor)) in cache
    ]
    body = section(
        records,
        systems=args.systems,
        seeds=args.seeds,
        trials=args.trials,
        factor=factor,
        median_epoch_s=MEDIAN_EPOCH_S,
        date=date,
        machine_text=machine_text,
        total_s=spent,
        lines=[*reading(records, args.systems), *args.note],
    )
    print(body)
    if not args.quick:
        write_section(args.out, SECTION, wrap(SECTION, body))


if __name__ == "__main__":
    main()
