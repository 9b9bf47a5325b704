"""Our side of the ask/tell benchmarks through the public API: a study on the local Ray session,
driven with `ask`, the objective's suggest calls and `tell`.

A study's sampler is swapped by closing it and reopening it (`load_if_exists=True`) with another
sampler: the log keeps the trials. The history is filled with `RandomSampler` (cheap proposals),
then the sampler under test is put in to measure.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.ask_tell._study import AskTellStudy
from raysweep.orchestrator import Study, create_study
from raysweep.samplers import RandomSampler, Sampler

SEED = 0


class RayStudy(AskTellStudy):
    """One study (one name in `storage`) whose sampler can be swapped."""

    def __init__(self, storage: Path, name: str) -> None:
        self.storage = storage
        self.name = name
        self._study: Study | None = None
        self.finished = 0
        self.opened = 0  # times the study was (re)opened
        self.reopen_s = 0.0  # spent closing and (re)opening, in total

    def use(self, sampler: Sampler) -> Study:
        """Close the study (if open) and reopen it with `sampler`."""
        started = time.perf_counter()
        self.close()
        self._study = create_study(
            name=self.name,
            storage=self.storage,
            direction="minimize",
            sampler=sampler,
            load_if_exists=True,
        )
        self.opened += 1
        self.reopen_s += time.perf_counter() - started
        return self._study

    @property
    def study(self) -> Study:
        if self._study is None:
            raise RuntimeError("open the study with use(sampler) first")
        return self._study

    def close(self) -> None:
        if self._study is not None:
            self._study.close()
            self._study = None

    def fill(self, space: str, target: int) -> float:
        """Random trials until the study has `target` finished ones; returns the seconds spent
        on their ask/tell (not on reopening the study with RandomSampler)."""
        if self.finished >= target:
            return 0.0
        self.use(RandomSampler(seed=SEED))
        started = time.perf_counter()
        while self.finished < target:
            trial, params = self.ask(space)
            self.tell(trial, space, params)
        return time.perf_counter() - started


def fsync_ms(directory: Path, repeats: int = 20) -> float:
    """Median milliseconds to append 500 bytes to a file in `directory` and fsync it: what each
    commit of a study's log (one per ask and per tell) pays at least, on this disk."""
    directory.mkdir(parents=True, exist_ok=True)
    handle, path = tempfile.mkstemp(dir=directory)
    try:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            os.write(handle, b"x" * 500)
            os.fsync(handle)
            times.append(time.perf_counter() - started)
    finally:
        os.close(handle)
        os.unlink(path)
    return 1000 * statistics.median(times)
