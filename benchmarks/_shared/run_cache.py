"""A benchmark's run cache: one JSON line per finished run, so a rerun does only what is missing.

Each record holds a "key" (which says everything the run depends on, so a changed system or
problem gets a new key and reruns) and a "result". Only the parent process appends, one flushed
line per run; a line cut short by a kill is skipped when the cache is read, so an interrupted
benchmark resumes where it stopped.
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar

# A worker process runs one sampler at a time: more BLAS threads would only contend for the cores.
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class CachedTask(Protocol):
    """One run: its cache key, and how progress lines name it."""

    @property
    def key(self) -> str: ...

    @property
    def label(self) -> str: ...


Task = TypeVar("Task", bound=CachedTask)
Record = dict[str, Any]


def load_runs(path: Path) -> dict[str, Record]:
    """The cached runs of `path` by key; the last record of a key wins."""
    records: dict[str, Record] = {}
    if not path.exists():
        return records
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and "key" in record and "result" in record:
                records[record["key"]] = record
    return records


def append_run(handle: IO[str], record: Mapping[str, Any]) -> None:
    """Write one record as a line and flush it: a kill loses at most the run in progress."""
    handle.write(json.dumps(record, sort_keys=True) + "\n")
    handle.flush()


def _attempt(
    execute: Callable[[Task], Record], task: Task
) -> tuple[Task, Record | None, str | None]:
    # The traceback travels back as text: an exception from a worker process may not unpickle.
    try:
        return task, execute(task), None
    except Exception:
        return task, None, traceback.format_exc()


def _outcomes(
    execute: Callable[[Task], Record], tasks: Sequence[Task], workers: int
) -> Iterable[tuple[Task, Record | None, str | None]]:
    attempt = functools.partial(_attempt, execute)
    if workers <= 1 or len(tasks) <= 1:
        yield from map(attempt, tasks)
        return
    for variable in _THREAD_VARIABLES:
        os.environ.setdefault(variable, "1")
    # spawn: a worker starts clean (no inherited Optuna or BLAS state); it imports `execute`'s
    # module by name, which it finds because spawn passes the parent's sys.path on.
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        yield from pool.imap_unordered(attempt, tasks, chunksize=1)


def run_missing(
    tasks: Sequence[Task],
    cache: Path,
    execute: Callable[[Task], Record],
    *,
    workers: int = 1,
    every_s: float = 20.0,
) -> dict[str, Record]:
    """Run the tasks whose key is not in `cache` with `execute` (a module-level function, for the
    worker processes), appending each record; return the record of every task that has one, by
    key, in task order. A failed run is printed with its traceback and left out."""
    done = load_runs(cache)
    todo = [t for t in tasks if t.key not in done]
    print(
        f"{len(tasks)} runs: {len(tasks) - len(todo)} in {cache.name}, {len(todo)} to run "
        f"with {workers} worker(s)",
        file=sys.stderr,
        flush=True,
    )
    cache.parent.mkdir(parents=True, exist_ok=True)
    started = last = time.perf_counter()
    failed = 0
    with cache.open("a", encoding="utf-8") as handle:
        for count, (task, record, error) in enumerate(_outcomes(execute, todo, workers), 1):
            if record is None:
                failed += 1
                print(f"FAILED {task.label}:\n{error}", file=sys.stderr, flush=True)
                continue
            append_run(handle, record)
            done[task.key] = record
            now = time.perf_counter()
            if now - last >= every_s or count == len(todo):
                last = now
                eta = (now - started) / count * (len(todo) - count)
                print(
                    f"{count}/{len(todo)} runs ({failed} failed), {(now - started) / 60:.1f} min, "
                    f"ETA {eta / 60:.1f} min; last {task.label}: {record['wall_s']:.2f} s",
                    file=sys.stderr,
                    flush=True,
                )
    return {t.key: done[t.key] for t in tasks if t.key in done}
