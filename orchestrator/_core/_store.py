"""What the TrialScheduler core needs of a study's storage, as protocols.

The core records events, holds the writer lease and drops checkpoints it no longer needs; how
and where (files on a POSIX path today, an object store later) is the storage layer's business
(``_storage._store.LocalStudyStore``). Keeping the core to these few calls keeps it free of
Arrow and of file-system details, and lets a second storage slot in without touching it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from raysweep.orchestrator._storage._event import Event

if TYPE_CHECKING:
    from raysweep.orchestrator._core._state_table import StateToSave


class WriterLease(Protocol):
    """This process's right to write the study; see ``_storage._lease.Lease``."""

    def heartbeat(self) -> None:
        """Renew the lease; StudyLockedError once another process has taken it over."""
        ...

    def release(self) -> None: ...

    def describe_takeover(self) -> str | None:
        """Whom this lease took over from and why, for the log; None if nobody."""
        ...


class SavedStudyState(Protocol):
    """A study's state the log saved beside itself (``_core._state_table`` has the layout)."""

    @property
    def last_seq(self) -> int: ...

    @property
    def study(self) -> str: ...

    @property
    def columns(self) -> Mapping[str, list[Any]]: ...

    @property
    def kinds(self) -> dict[str, str]: ...

    @property
    def blobs(self) -> dict[str, bytes]: ...


class StudyLog(Protocol):
    """The writer of the study's event log; see ``_storage._log.EventLog``."""

    @property
    def next_seq(self) -> int: ...

    def stage(
        self,
        kind: str,
        trial: int | None,
        payload: dict[str, Any],
        check: Callable[[Event], None] | None = None,
    ) -> Event:
        """Number and buffer an event (no I/O); durable after the next commit.

        `check` is given the event as replay will read it, before it is buffered; if it raises,
        nothing is buffered and the error propagates.
        """
        ...

    def append(self, kind: str, trial: int | None, payload: dict[str, Any]) -> Event:
        """Stage and commit one event (and anything staged before it)."""
        ...

    def commit(self) -> int:
        """Write what is staged and make it durable; StorageError when it cannot.

        StudyLockedError, writing nothing, once another process has taken the lease over.
        """
        ...

    def snapshot(self) -> object:
        """Commit, then compact everything so far so that the next replay is fast."""
        ...

    @property
    def saved_state(self) -> SavedStudyState | None:
        """The saved state opening read instead of the events (`open_log(saved_state=True)`)."""
        ...

    @property
    def from_saved_state(self) -> bool:
        """Whether opening read a saved state instead of the events."""
        ...

    def drop_saved_state(self) -> None:
        """Release the saved state once read (its columns are as large as the study)."""
        ...

    @property
    def state_base(self) -> int | None:
        """The seq of the saved state the next one may be laid on (`StateToSave.base_seq`);
        None: the next one must hold every trial."""
        ...

    def save_state(self, saved: StateToSave, *, whole: bool = False) -> object:
        """Save the state of the log's events 0..`saved.last_seq`, if those are all committed
        and it is laid on `state_base` (or whole); otherwise write nothing and return None.
        `whole`: lay it together with the states under it into one file."""
        ...

    def close(self) -> None: ...


class ReplayFindings(Protocol):
    """What a replay had to drop (torn tails, unreadable snapshots, gaps)."""

    @property
    def clean(self) -> bool: ...

    def describe(self) -> str: ...


class StudyStore(Protocol):
    """Where one study lives."""

    @property
    def location(self) -> str:
        """The study's place, for messages and for runners (a path or a URI)."""
        ...

    @property
    def checkpoint_root(self) -> str:
        """Where runners write the checkpoints of paused trials."""
        ...

    def acquire_lease(
        self, *, description: str, wait: float, driver: tuple[str, int] | None = None
    ) -> WriterLease:
        """Take the writer lease, waiting up to `wait` s; StudyLockedError naming the holder.

        `driver` (host, pid): the process this writer works for, if another one; it is who a
        refused caller is told to stop.
        """
        ...

    def open_log(
        self, *, saved_state: bool = False
    ) -> tuple[StudyLog, list[Event], ReplayFindings]:
        """Open the log for writing (creating it if new): the writer, its events, the findings.

        `saved_state`: where a state saved at close stands for the whole log, read it instead
        of the events (the events returned are none; `StudyLog.saved_state` holds it).

        The caller holds the lease (from `acquire_lease`), which fences the log: it writes
        nothing once another process has taken the study over.
        """
        ...

    def remove_checkpoint(self, trial: int, step: int) -> None:
        """Delete the checkpoint of `trial` at `step`, no longer needed; a missing one is fine,
        OSError otherwise. Its place follows from the two numbers, never from the log."""
        ...
