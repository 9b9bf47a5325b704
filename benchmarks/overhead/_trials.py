"""The no-op objectives of the overhead benchmark, and how they ship their timings home.

This module is imported inside Ray workers (raysweep runners, Tune trainables) by its full name:
Ray puts the driver's working directory, the repository root from which `python -m` runs the
benchmark, on the workers' path. Each objective times the calls at
rung steps with `time.perf_counter()` and keeps the samples in a module-level list, one per
process; the list is appended to a file per process (`<out_dir>/<system>-<pid>.txt`) outside the
timed calls, once per trial, which costs microseconds against milliseconds of round trips.
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection
from typing import IO, Any

import ray

from raysweep.orchestrator import Trial, TrialPruned

_pending: list[str] = []
_files: dict[str, IO[str]] = {}
_last_return: list[float] = []  # when this process's previous raysweep trial returned


def record(kind: str, seconds: float) -> None:
    _pending.append(f"{kind} {seconds:.9f}\n")


def flush(out_dir: str, system: str) -> None:
    """Append the samples not written yet to this process's file."""
    if not _pending:
        return
    path = os.path.join(out_dir, f"{system}-{os.getpid()}.txt")
    handle = _files.get(path)
    if handle is None:
        handle = _files[path] = open(path, "a", encoding="ascii")  # noqa: SIM115 (kept open)
    handle.writelines(_pending)
    handle.flush()
    _pending.clear()


def read_samples(out_dir: str, system: str) -> dict[str, list[list[float]]]:
    """The samples the processes of `system` wrote, by kind: one list per process, in order."""
    samples: dict[str, list[list[float]]] = {}
    for name in sorted(os.listdir(out_dir)):
        if not name.startswith(f"{system}-"):
            continue
        mine: dict[str, list[float]] = {}
        with open(os.path.join(out_dir, name), encoding="ascii") as handle:
            for line in handle:
                kind, value = line.split()
                mine.setdefault(kind, []).append(float(value))
        for kind, values in mine.items():
            samples.setdefault(kind, []).append(values)
    return samples


def flat(per_process: list[list[float]]) -> list[float]:
    return [x for values in per_process for x in values]


class Probe:
    """A plain synchronous actor: its `ping` is the bare Ray round trip we compare against."""

    def ping(self) -> bool:
        return True


def raysweep_objective(
    trial: Trial, *, reports: int, rungs: Collection[int], probe: Any, out_dir: str
) -> float:
    """One suggestion, `reports` reports; at rung steps, time a probe ping and the report.

    Also times the hand-off: from the previous trial's return on this runner to this call.
    """
    if _last_return:
        record("handoff", time.perf_counter() - _last_return.pop())
    x = trial.suggest_float("x", 0.0, 1.0)
    try:
        for step in range(1, reports + 1):
            if step not in rungs:
                trial.report(x, step=step)
                continue
            if probe is not None:
                start = time.perf_counter()
                ray.get(probe.ping.remote())
                record("rtt", time.perf_counter() - start)
            start = time.perf_counter()
            try:
                trial.report(x, step=step)
            except TrialPruned:
                record("decision", time.perf_counter() - start)
                raise
            record("decision", time.perf_counter() - start)
    finally:
        flush(out_dir, "raysweep")
        _last_return.append(time.perf_counter())
    return x


def tune_trainable(config: dict[str, Any]) -> None:
    """The same objective as a Tune function trainable (constants travel in the config).

    A trial that ASHA stops never returns from its last `tune.report`; its samples so far are
    written when the process starts its next trial.
    """
    from ray import tune

    out_dir = config["out_dir"]
    flush(out_dir, "tune")
    x = config["x"]
    rungs = set(config["rungs"])
    for step in range(1, config["reports"] + 1):
        if step not in rungs:
            tune.report({"v": x})
            continue
        start = time.perf_counter()
        tune.report({"v": x})
        record("decision", time.perf_counter() - start)
    flush(out_dir, "tune")
