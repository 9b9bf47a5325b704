"""A study stored in a directory of a local (POSIX) file system: the core's `StudyStore`.

``<directory>/`` holds ``segments/`` and ``snapshots/`` (the event log), ``LEASE.json`` (the
writer lease) and ``checkpoints/`` (paused trials' states, written by the runners).

The lease :meth:`LocalStudyStore.acquire_lease` takes is the one :meth:`~LocalStudyStore.
open_log` fences the log with, so a writer that has lost the study writes nothing more.
"""

from __future__ import annotations

import os
from pathlib import Path

from raysweep.orchestrator._storage import _checkpoints
from raysweep.orchestrator._storage._event import Event
from raysweep.orchestrator._storage._lease import Lease
from raysweep.orchestrator._storage._log import EventLog, ReplayReport
from raysweep.orchestrator._storage._replay import highest_generation

__all__ = ["LocalStudyStore"]


class LocalStudyStore:
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self._directory = Path(directory)
        self._lease: Lease | None = None

    @property
    def directory(self) -> Path:
        return self._directory

    @property
    def location(self) -> str:
        return str(self._directory)

    @property
    def checkpoint_root(self) -> str:
        return str(self._directory / "checkpoints")

    def acquire_lease(
        self, *, description: str, wait: float, driver: tuple[str, int] | None = None
    ) -> Lease:
        self._lease = Lease.acquire(
            self._directory,
            description=description,
            wait=wait,
            driver=driver,
            # Above every generation on disk even if LEASE.json was lost or replaced by hand.
            epoch_floor=highest_generation(self._directory),
        )
        return self._lease

    def open_log(self) -> tuple[EventLog, list[Event], ReplayReport]:
        """The log, fenced by the lease :meth:`acquire_lease` took last."""
        if self._lease is None:
            raise RuntimeError(
                f"open_log on {self!r} before acquire_lease: the log is written under the lease"
            )
        return EventLog.open(self._directory, create=True, lease=self._lease)

    def remove_checkpoint(self, trial: int, step: int) -> None:
        _checkpoints.remove(self.checkpoint_root, trial, step)

    def __repr__(self) -> str:
        return f"LocalStudyStore({self.location!r})"
