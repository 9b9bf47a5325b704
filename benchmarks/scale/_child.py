"""One measurement of the scale benchmark, in a process of its own; prints one JSON line.

    python -m benchmarks.scale._child build DIR TRIALS
    python -m benchmarks.scale._child reopen DIR QUERIES
    python -m benchmarks.scale._child memory DIR
    python -m benchmarks.scale._child single-snapshot DIR
    python -m benchmarks.scale._child optuna-build memory|journal PATH TRIALS
    python -m benchmarks.scale._child optuna-memory TRIALS
    python -m benchmarks.scale._child optuna-reopen PATH QUERIES

A process per measurement keeps each one's memory its own, and lets `study_100k --base` run
the raysweep tasks on an older commit: the parent puts that commit's link tree first on
PYTHONPATH, so `raysweep` is the old code while `benchmarks` is this checkout's. The raysweep
tasks use only calls that exist on both (what `best` does is looked up, not assumed).
"""

from __future__ import annotations

import gc
import json
import math
import os
import pickle
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

# A query is run this many times after the first (which may warm caches); the median is kept.
_QUERY_REPEATS = 5


def _rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as handle:
        resident_pages = int(handle.read().split()[1])
    import resource

    return resident_pages * resource.getpagesize()


def _timed(run: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median seconds of `repeats` calls of `run` (after one untimed call), and its result;
    two calls only when one takes seconds (Optuna's `study.trials` at 100,000 trials)."""
    started = time.perf_counter()
    result = run()
    if time.perf_counter() - started > 1.0:
        repeats = 2
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def _build(directory: str, trials: str, killed_copy: str | None = None) -> dict[str, Any]:
    from benchmarks.scale._workload import build

    copy = None if killed_copy is None else Path(killed_copy)
    done = build(Path(directory), int(trials), killed_copy=copy)
    return {
        "trials": done.trials,
        "events": done.events,
        "wall_s": done.wall_s,
        "commit_s": sum(done.log.commits),
        "commits": len(done.log.commits),
        "snapshot_s": done.log.snapshots,
        "state_save_s": sum(done.log.state_saves),
        "running_state_save_s": getattr(done.log, "running_state_saves", []),
        "snapshot_at": done.log.snapshot_sizes,
        "call_max_s": done.call_max_s,
        "call_p999_s": done.call_p999_s,
        "block": done.block,
        "block_s": done.block_s,
    }


def _extend_and_kill(directory: str, trials: str) -> dict[str, Any]:
    from benchmarks.scale._workload import extend_and_kill

    done = extend_and_kill(Path(directory), int(trials))
    print(json.dumps({"trials": done.trials, "events": done.events, "wall_s": done.wall_s}))
    sys.stdout.flush()
    os._exit(0)  # killed: no close, the lease left behind


def _best_of(core: Any) -> Callable[[], Any]:
    """How `Study.best_value` gets the best trial on this commit: one record from the
    TrialScheduler, or (before `best` existed) every record, ranked by the driver."""
    if hasattr(core, "best"):
        return lambda: core.best()
    from raysweep.orchestrator._best import best_trial

    info = core.info
    return lambda: best_trial(core.records(), info.directions[0], info.name)


def _reopen(directory: str, queries: str) -> dict[str, Any]:
    from benchmarks.scale import _workload
    from raysweep.orchestrator._core import _recorder, _state
    from raysweep.orchestrator._storage import _store

    parts: dict[str, float] = {}

    def timing(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                parts[name] = parts.get(name, 0.0) + time.perf_counter() - started

        return call

    # The three parts of `TrialSchedulerCore.open`: read the log, replay the state, rebuild the
    # recorder (and the pruner's state from the logged reports).
    store_open_log = _store.LocalStudyStore.open_log
    _store.LocalStudyStore.open_log = timing("read_s", store_open_log)  # type: ignore[method-assign]
    if hasattr(_state.StudyState, "replay_onto"):
        # Every replay goes through it: the whole log's, or what came after a saved state.
        replay_onto = _state.StudyState.replay_onto
        _state.StudyState.replay_onto = timing("state_s", replay_onto)  # type: ignore[method-assign]
    else:
        replay = _state.StudyState.replay.__func__  # type: ignore[attr-defined]
        _state.StudyState.replay = classmethod(timing("state_s", replay))  # type: ignore[method-assign,assignment]
    recorder_init = _recorder.StudyRecorder.__init__
    _recorder.StudyRecorder.__init__ = timing("recorder_s", recorder_init)  # type: ignore[method-assign]
    if hasattr(_recorder, "load_state"):
        # A study closed cleanly opens from its saved state: that load is the state's part.
        _recorder.load_state = timing("state_s", _recorder.load_state)  # type: ignore[attr-defined]
    gc.collect()
    started = time.perf_counter()
    core = _workload.open_core(Path(directory))
    opened = time.perf_counter() - started
    out: dict[str, Any] = {"open_s": opened, **parts, "trials": len(core._rec.state.trials)}
    log: Any = core._rec.log
    out["from_saved_state"] = bool(getattr(log, "from_saved_state", False))
    if int(queries):
        # The first call after the replay builds every record; later ones, what changed.
        started = time.perf_counter()
        core.records()
        records_first_s = time.perf_counter() - started
        progress_s, progress = _timed(core.progress, _QUERY_REPEATS)
        records_s, records = _timed(core.records, _QUERY_REPEATS)
        best_s, best = _timed(_best_of(core), _QUERY_REPEATS)
        out |= {
            "progress_s": progress_s,
            "records_first_s": records_first_s,
            "records_s": records_s,
            "best_s": best_s,
            "best_value": best.values[0],
            "progress_best": progress.best_value,
            # What crosses the process boundary (Ray pickles it) for `Study.best_value`.
            "best_bytes": len(pickle.dumps(best if hasattr(core, "best") else records)),
            "records_bytes": len(pickle.dumps(records)),
        }
    core.close()
    return out


def _memory(directory: str) -> dict[str, Any]:
    from benchmarks.scale import _workload

    gc.collect()
    rss_before = _rss_bytes()
    core = _workload.open_core(Path(directory))
    gc.collect()
    rss_after = _rss_bytes()
    core.close()
    del core
    gc.collect()
    tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    core = _workload.open_core(Path(directory))
    gc.collect()
    traced = tracemalloc.get_traced_memory()[0] - baseline
    # What records() (or attaching a sampler, which sends them all) adds: kept where they are
    # cached until their trial changes, garbage right away where they are not.
    records = core.records()
    gc.collect()
    cached = tracemalloc.get_traced_memory()[0] - baseline - traced
    del records
    trials = len(core._rec.state.trials)
    tracemalloc.stop()
    core.close()
    return {
        "trials": trials,
        "rss_bytes": rss_after - rss_before,
        "traced_bytes": traced,
        "records_cached_bytes": cached,
    }


def _single_snapshot(directory: str) -> dict[str, Any]:
    """Rewrite the log as one snapshot holding every event (and no segment): the layout the
    TrialScheduler left at close before snapshots became a chain, which older code reads."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    from raysweep.orchestrator._storage import _format, _replay

    root = Path(directory)
    scan = _replay.scan_log(_replay.log_files(root))
    generation = scan.highest_generation
    records = scan.records()
    schema = _format.stamped_schema(generation)
    table = pa.Table.from_batches([_format.batch_from_records(records)], schema=schema)
    for path in [*(root / "segments").iterdir(), *(root / "snapshots").iterdir()]:
        path.unlink()
    name = _format.snapshot_name(records[-1].seq, generation)
    with ipc.new_file(root / "snapshots" / name, schema) as writer:
        writer.write_table(table)
    return {"events": len(records)}


def _optuna_objective(trial: Any) -> tuple[Any, float]:
    """The workload's trial under Optuna: same three parameters, same curve, three reports."""
    import optuna

    params = {
        "x": trial.suggest_float("x", -5.0, 5.0),
        "lr": trial.suggest_float("lr", 1e-4, 1.0, log=True),
        "width": trial.suggest_int("width", 8, 512),
    }
    from benchmarks.scale._workload import STEPS, curve

    value = math.nan
    for step in STEPS:
        value = curve(params, step)
        trial.report(value, step)
        if trial.should_prune():
            return optuna.trial.TrialState.PRUNED, value
    return optuna.trial.TrialState.COMPLETE, value


def _optuna_storage(kind: str, path: str) -> Any:
    if kind == "memory":
        return None
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(path))


def _optuna_queries(study: Any) -> dict[str, Any]:
    # `study.trials`, as a user reads them (copies, like ours).
    records_s, records = _timed(lambda: study.get_trials(), _QUERY_REPEATS)
    best_s, best = _timed(lambda: study.best_trial, _QUERY_REPEATS)
    return {
        "records_s": records_s,
        "best_s": best_s,
        "best_value": best.value,
        "records_bytes": len(pickle.dumps(records)),
        "best_bytes": len(pickle.dumps(best)),
    }


def _optuna_study(kind: str, path: str, trials: int) -> tuple[Any, float]:
    """The workload's study under Optuna, built; and the seconds the build took."""
    from benchmarks._shared.optuna_logging import quiet_optuna

    quiet_optuna()
    import optuna

    from benchmarks.scale._workload import SEED

    study = optuna.create_study(
        storage=_optuna_storage(kind, path),
        study_name="scale",
        sampler=optuna.samplers.RandomSampler(seed=SEED),
        pruner=optuna.pruners.NopPruner(),
    )
    complete = optuna.trial.TrialState.COMPLETE
    started = time.perf_counter()
    for _ in range(trials):
        trial = study.ask()
        state, value = _optuna_objective(trial)
        study.tell(trial, value if state is complete else None, state)
    return study, time.perf_counter() - started


def _optuna_imported() -> None:
    """Optuna imported and quiet, before anything is measured (its modules are not the study)."""
    from benchmarks._shared.optuna_logging import quiet_optuna

    quiet_optuna()
    import optuna.storages.journal  # noqa: F401

    import benchmarks.scale._workload  # noqa: F401 (the curve and seed; it imports raysweep)


def _optuna_build(kind: str, path: str, trials: str) -> dict[str, Any]:
    _optuna_imported()
    gc.collect()
    rss_before = _rss_bytes()
    study, wall = _optuna_study(kind, path, int(trials))
    gc.collect()
    out: dict[str, Any] = {"trials": int(trials), "wall_s": wall}
    if kind == "memory":
        out |= {"rss_bytes": _rss_bytes() - rss_before, **_optuna_queries(study)}
    return out


def _optuna_memory(trials: str) -> dict[str, Any]:
    """What the in-memory storage holds once the study is built (a build of its own: tracing
    allocations slows it down several times)."""
    _optuna_imported()
    gc.collect()
    tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    study, _ = _optuna_study("memory", "-", int(trials))
    gc.collect()
    traced = tracemalloc.get_traced_memory()[0] - baseline
    tracemalloc.stop()
    del study
    return {"trials": int(trials), "traced_bytes": traced}


def _optuna_reopen(path: str, queries: str) -> dict[str, Any]:
    _optuna_imported()
    import optuna

    gc.collect()
    rss_before = _rss_bytes()
    started = time.perf_counter()
    study = optuna.load_study(study_name="scale", storage=_optuna_storage("journal", path))
    trials = len(study.get_trials(deepcopy=False))
    opened = time.perf_counter() - started
    gc.collect()
    out: dict[str, Any] = {
        "open_s": opened,
        "trials": trials,
        "rss_bytes": _rss_bytes() - rss_before,
    }
    if int(queries):
        out |= _optuna_queries(study)
    return out


TASKS: dict[str, Callable[..., dict[str, Any]]] = {
    "build": _build,
    "extend-and-kill": _extend_and_kill,
    "reopen": _reopen,
    "memory": _memory,
    "single-snapshot": _single_snapshot,
    "optuna-build": _optuna_build,
    "optuna-memory": _optuna_memory,
    "optuna-reopen": _optuna_reopen,
}


def main(argv: list[str]) -> None:
    task, *arguments = argv
    print(json.dumps(TASKS[task](*arguments)))


if __name__ == "__main__":
    main(sys.argv[1:])
