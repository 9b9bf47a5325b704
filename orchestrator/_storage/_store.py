"""A study stored in a directory of a local (POSIX) file system: the core's `StudyStore`.

``<directory>/`` holds ``segments/`` and ``snapshots/`` (the event log), ``LEASE.json`` (the
writer lease) and ``checkpoints/`` (paused trials' states, written by the runners).
"""

from __future__ import annotations

import os
from pathlib import Path

from raysweep.orchestrator._storage import _checkpoints
from raysweep.orchestrator._storage._event import Event
from raysweep.orchestrator._storage._lease import Lease
from raysweep.orchestrator._storage._log import EventLog, ReplayReport

__all__ = ["LocalStudyStore"]


class LocalStudyStore:
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self._directory = Path(directory)

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
        return Lease.acquire(self._directory, description=description, wait=wait, driver=driver)

    def open_log(self) -> tuple[EventLog, list[Event], ReplayReport]:
        return EventLog.open(self._directory, create=True)

    def remove_checkpoint(self, trial: int, step: int) -> None:
        _checkpoints.remove(self.checkpoint_root, trial, step)

    def __repr__(self) -> str:
        return f"LocalStudyStore({self.location!r})"
