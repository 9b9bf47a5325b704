"""Where a study lives, as the core's `StudyStore`: a local directory or an object store.

:func:`open_study_store` picks the store for a location: :class:`LocalStudyStore` for a path
(or a ``file://`` URI), :class:`ObjectStudyStore` for any other ``pyarrow.fs`` URI.

``<study>/`` holds ``segments/`` and ``snapshots/`` (the event log), ``LEASE.json`` (the
writer lease) and ``checkpoints/`` (paused trials' states, written by the runners). Both stores
hand the lease they took to the log they open (:meth:`open_log`), which it fences, so a writer
that has lost the study writes nothing more.
"""

from __future__ import annotations

import os
from pathlib import Path

from raysweep.orchestrator._storage import _checkpoints
from raysweep.orchestrator._storage._event import Event
from raysweep.orchestrator._storage._lease import Lease
from raysweep.orchestrator._storage._log import EventLog, ReplayReport
from raysweep.orchestrator._storage._object_store import ObjectFiles, ObjectLocation, is_uri
from raysweep.orchestrator._storage._replay import highest_generation, newest_generation
from raysweep.orchestrator._storage._s3_lease import lease_slot

__all__ = [
    "STORAGE_ENVIRONMENT",
    "LocalStudyStore",
    "ObjectStudyStore",
    "open_study_store",
    "storage_environment",
]

_CHECKPOINTS = "checkpoints"
# What pyarrow and boto3 read from the environment to reach S3: the driver's values are what
# its study's actors need (``storage_environment``).
STORAGE_ENVIRONMENT = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_CA_BUNDLE",
    "AWS_EC2_METADATA_DISABLED",
)


class LocalStudyStore:
    """A study in a directory of a local (POSIX) file system."""

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
        return str(self._directory / _CHECKPOINTS)

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

    def open_log(self, *, saved_state: bool = False) -> tuple[EventLog, list[Event], ReplayReport]:
        """The log, fenced by the lease :meth:`acquire_lease` took last (``saved_state``: see
        :meth:`EventLog.open`)."""
        if self._lease is None:
            raise RuntimeError(
                f"open_log on {self!r} before acquire_lease: the log is written under the lease"
            )
        return EventLog.open(
            self._directory, create=True, lease=self._lease, saved_state=saved_state
        )

    def remove_checkpoint(self, trial: int, step: int) -> None:
        _checkpoints.remove(self.checkpoint_root, trial, step)

    def __repr__(self) -> str:
        return f"LocalStudyStore({self.location!r})"


class ObjectStudyStore:
    """A study under an object-store prefix: ``s3://bucket/prefix/<study>``.

    Every file is written whole (``_object_store``); the lease is kept by conditional writes,
    which raysweep implements for ``s3://`` only (``_s3_lease``): :meth:`check_writable` and
    :meth:`acquire_lease` refuse other schemes with what is supported.
    """

    def __init__(self, uri: str) -> None:
        self._root = ObjectLocation.parse(uri)
        self._lease: Lease | None = None

    @property
    def uri(self) -> str:
        """The study's URI, query included (the endpoint, for the processes that open it)."""
        return self._root.uri

    @property
    def location(self) -> str:
        return self._root.display

    @property
    def checkpoint_root(self) -> str:
        # The study's own URI below it, query and all, so that a runner on any node reaches
        # the same endpoint.
        return self._root.child(_CHECKPOINTS).uri

    def check_writable(self) -> None:
        """StorageError, saying what to fix, unless a writer can keep this study: a scheme with
        a lease, boto3 installed, a store that honours conditional writes, write access."""
        lease_slot(self._root).prepare()
        ObjectFiles(self._root).probe()

    def acquire_lease(
        self, *, description: str, wait: float, driver: tuple[str, int] | None = None
    ) -> Lease:
        self._lease = Lease.acquire_in(
            lease_slot(self._root),
            description=description,
            wait=wait,
            driver=driver,
            # Above every generation stored even if LEASE.json was deleted by hand.
            epoch_floor=newest_generation(ObjectFiles(self._root)),
        )
        return self._lease

    def open_log(self, *, saved_state: bool = False) -> tuple[EventLog, list[Event], ReplayReport]:
        """The log, fenced by the lease :meth:`acquire_lease` took last (``saved_state``: see
        :meth:`EventLog.open`)."""
        if self._lease is None:
            raise RuntimeError(
                f"open_log on {self!r} before acquire_lease: the log is written under the lease"
            )
        return EventLog.open(
            self._root.uri, create=True, lease=self._lease, saved_state=saved_state
        )

    def remove_checkpoint(self, trial: int, step: int) -> None:
        _checkpoints.remove(self.checkpoint_root, trial, step)

    def __repr__(self) -> str:
        return f"ObjectStudyStore({self.location!r})"


def open_study_store(location: str | os.PathLike[str]) -> LocalStudyStore | ObjectStudyStore:
    """The store of the study at ``location``: a path (or ``file://`` URI) or another URI."""
    if is_uri(location):
        assert isinstance(location, str)
        root = ObjectLocation.parse(location)
        if root.scheme == "file":
            return LocalStudyStore(root.path)
        return ObjectStudyStore(location)
    return LocalStudyStore(location)


def storage_environment(location: str | os.PathLike[str]) -> dict[str, str]:
    """The variables of this process's environment that the study's storage is reached with.

    Ray starts an actor with the environment its node's raylet was started with, not the
    driver's, so a driver whose S3 credentials or endpoint are in its environment passes these
    to the processes that open the study (none for a local path).
    """
    if not is_uri(location) or str(location).startswith("file:"):
        return {}
    return {name: os.environ[name] for name in STORAGE_ENVIRONMENT if name in os.environ}
