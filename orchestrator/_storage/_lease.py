"""The writer lease: at most one live process writes a study.

``LEASE.json`` names the owner. A lease is *dead*, and may be taken over, when its owner ran on
this machine and that process is gone (pid missing, a zombie, or reused by a process that started
later, or the machine rebooted), or when its heartbeat is older than ``stale_after`` seconds (any
machine; the only test possible for another one, so clocks must roughly agree). Which machine an
owner ran on is decided by its machine and boot ids, not its hostname (``_lease_owner``). Taking,
renewing and releasing the lease run under ``flock`` on ``LEASE.lock``, so two processes on one
machine cannot both see the lease dead and both take it; the kernel drops that lock when its
holder dies, so the lock file itself never goes stale. ``LEASE.json`` is always replaced
atomically.

Every acquisition and takeover gives the lease an *epoch* one above the one in ``LEASE.json``
(and above ``epoch_floor``): the writer generation that the event log stamps on its files and
checks before it writes, so that a writer that stalled past a takeover writes nothing, and
replay can tell its files from its successor's. Releasing therefore leaves ``LEASE.json`` in
place, marked released, to carry the epoch on.

Where the record lives is a :class:`LeaseSlot`. In a directory (:class:`FileSlot`) the flock
makes read-decide-write one step. On an object store there is no lock to take, so every write
is conditional instead: it names the version it read (an S3 ETag) and fails when the record
changed since, and the writer then reads again and decides again (``_s3_lease.S3Slot``).
Everything else — who is dead, the epochs, heartbeats, verify, release — is the same code.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import NamedTuple, Protocol

from raysweep.orchestrator._errors import StorageError, StudyLockedError
from raysweep.orchestrator._storage._files import atomic_write, remove_temp_files
from raysweep.orchestrator._storage._format import LEASE_FILE
from raysweep.orchestrator._storage._lease_owner import (
    LeaseOwner,
    on_this_machine,
    this_process,
    why_dead,
)

__all__ = [
    "LEASE_FILE",
    "FileSlot",
    "Lease",
    "LeaseOwner",
    "LeaseRead",
    "LeaseSlot",
    "parse_owner",
]

LOCK_FILE = "LEASE.lock"
# The critical section is a read and a small atomic write; a holder that keeps the lock this
# long is stopped (SIGSTOP, a hung disk), and we say so rather than hang.
_LOCK_TIMEOUT = 10.0
_LOCK_POLL = 0.002
# A conditional renewal refused although the record still names us (it changed between our
# read and our write) is tried again this many times before the heartbeat reports an error.
_RENEW_ATTEMPTS = 3


@contextlib.contextmanager
def _critical_section(directory: Path) -> Iterator[None]:
    path = directory / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StorageError(
            f"cannot open the lock file {path} ({exc}); the study directory must be writable"
        ) from exc
    try:
        deadline = time.monotonic() + _LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StudyLockedError(
                        f"another process has held {path} for over {_LOCK_TIMEOUT:g} s while "
                        "taking or renewing the lease; find it with `fuser` and resume or stop it"
                    ) from None
                time.sleep(_LOCK_POLL)
        yield
    finally:
        os.close(fd)  # also drops the flock


# An unchanged lease file is trusted for this long (seconds) without reading it again.
_REREAD_AFTER = 1.0


class _FileKey(NamedTuple):
    device: int
    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int


def _file_key(stat: os.stat_result) -> _FileKey:
    return _FileKey(stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


class LeaseRead(NamedTuple):
    """The lease record as read: its owner (None: no lease), why it is unusable if it is, and
    the version a conditional write names (None: there is no record; a directory has no
    versions and says '')."""

    owner: LeaseOwner | None
    problem: str | None
    version: str | None


class LeaseSlot(Protocol):
    """Where a study's lease record lives, and how it is replaced without a race."""

    @property
    def location(self) -> Path | str:
        """The study's place, for messages."""
        ...

    def prepare(self) -> None:
        """Make the place, or check that it can hold a lease; StorageError saying what to fix."""
        ...

    def exclusive(self) -> AbstractContextManager[None]:
        """Held around each read-decide-write (a flock; nothing where writes are conditional)."""
        ...

    def read(self) -> LeaseRead: ...

    def write(self, owner: LeaseOwner, version: str | None) -> str | None:
        """Store ``owner`` unless the record changed since ``version`` was read (None: there
        was none); return the new version, or None if it had changed and nothing was written."""
        ...

    def cleanup(self) -> None:
        """Remove what interrupted writes of earlier owners left; called by a new owner."""
        ...


def parse_owner(text: str, what: str, version: str) -> LeaseRead:
    """The record ``text`` of version ``version``; ``what`` names it if it is unreadable."""
    try:
        return LeaseRead(LeaseOwner.from_json(text), None, version)
    except (ValueError, TypeError) as exc:
        return LeaseRead(None, f"{what} was unreadable ({exc})", version)


class FileSlot:
    """``LEASE.json`` in a directory, replaced atomically under ``flock`` on ``LEASE.lock``."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._path = directory / LEASE_FILE
        # The record last read, the file's identity when it was read, and when (monotonic).
        self._last: tuple[_FileKey, LeaseRead, float] | None = None

    @property
    def location(self) -> Path:
        return self._directory

    def prepare(self) -> None:
        try:
            self._directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(
                f"cannot create the study directory {self._directory} ({exc}); choose a "
                "writable path"
            ) from exc

    def exclusive(self) -> AbstractContextManager[None]:
        return _critical_section(self._directory)

    def read(self) -> LeaseRead:
        # Every commit verifies the lease, and reading and parsing the record cost more than
        # the rest of a small commit. A file of the same inode, size, mtime and ctime holds the
        # record read before: every write replaces the file (and a hand edit changes its times
        # or size). Attributes may be cached by a network file system, so past
        # _REREAD_AFTER the record itself is read again whatever they say.
        last = self._last
        now = time.monotonic()
        try:
            fresh = last is not None and now - last[2] < _REREAD_AFTER
            if fresh and last is not None and _file_key(os.stat(self._path)) == last[0]:
                return last[1]
            with open(self._path, "rb") as handle:
                key = _file_key(os.fstat(handle.fileno()))
                text = handle.read().decode(errors="replace")
        except FileNotFoundError:
            self._last = None
            return LeaseRead(None, None, None)
        except OSError as exc:
            raise StorageError(
                f"cannot read the lease file {self._path} ({exc}); fix its permissions"
            ) from exc
        read = parse_owner(text, "the lease file", "")
        self._last = (key, read, now)
        return read

    def write(self, owner: LeaseOwner, version: str | None) -> str | None:
        # Under the flock nobody else writes between our read and this write.
        try:
            with atomic_write(self._path) as sink:
                sink.write(owner.to_json().encode())
        except OSError as exc:
            raise StorageError(
                f"cannot write the lease file {self._path} ({exc}); the study directory must "
                "be writable"
            ) from exc
        return ""

    def cleanup(self) -> None:
        remove_temp_files(self._directory, LEASE_FILE)


def _write_checked(slot: LeaseSlot, owner: LeaseOwner, read: LeaseRead) -> LeaseRead | None:
    """Write ``owner`` over what ``read`` saw; the record as written, or None if another
    process wrote in between.

    A conditional write whose first try landed but whose answer was lost is retried by the
    client and then refused, since the record is no longer the one it names: reading back
    tells that case (the record is exactly ours) from a lost race.
    """
    version = slot.write(owner, read.version)
    if version is not None:
        return LeaseRead(owner, None, version)
    again = slot.read()
    return again if again.owner == owner else None


def _locked_message(
    directory: Path | str, owner: LeaseOwner, now: float, stale_after: float
) -> str:
    wait = max(0.0, stale_after - (now - owner.heartbeat_at))
    host, pid = owner.stop_target
    # Only the writer's machine is recorded; of a driver, its hostname is all we know.
    is_writer = (host, pid) == (owner.host, owner.pid)
    here = on_this_machine(owner) if is_writer else host == socket.gethostname()
    if here and pid == os.getpid():
        advice = "It is this very process: release the lease it holds (or reuse it)"
    elif here:
        advice = f"Stop that process (kill {pid}) and try again"
    else:
        where = f"{host!r}"
        if host == socket.gethostname():
            where += " (another machine of that name)"
        advice = (
            f"Stop that process (pid {pid}) on {where}, or, if it is gone, wait {wait:.0f} s "
            "for its lease to go stale and try again (or pass a longer wait)"
        )
    return f"the study at {directory} is in use by {owner.describe(now)}. {advice}."


class Lease:
    """This process's right to write one study. Make one with :meth:`acquire` (a directory)
    or :meth:`acquire_in` (any :class:`LeaseSlot`).

    Keep it alive with :meth:`heartbeat` (or :meth:`start_heartbeat`) well within
    ``stale_after``; stop writing as soon as :meth:`heartbeat` or :meth:`verify` raises
    StudyLockedError, because another process owns the study from then on.
    """

    def __init__(
        self,
        slot: LeaseSlot,
        owner: LeaseOwner,
        version: str | None,
        *,
        stale_after: float,
        previous_owner: LeaseOwner | None,
        takeover_reason: str | None,
    ) -> None:
        self._slot = slot
        self._directory = slot.location
        self._owner = owner
        # The version of the record this process wrote last (conditional writes name it).
        self._version = version
        self._stale_after = stale_after
        self._previous_owner = previous_owner
        self._takeover_reason = takeover_reason
        self._mutex = threading.Lock()
        self._released = False
        self._beat_stop: threading.Event | None = None
        self._beat_thread: threading.Thread | None = None
        self._heartbeat_error: Exception | None = None

    @classmethod
    def acquire(
        cls,
        directory: str | os.PathLike[str],
        *,
        description: str,
        stale_after: float = 30.0,
        wait: float = 0.0,
        poll_interval: float = 0.1,
        driver: tuple[str, int] | None = None,
        epoch_floor: int = 0,
    ) -> Lease:
        """Take the lease of ``directory`` (created if missing), waiting up to ``wait`` seconds.

        A dead lease (see the module docstring) is taken over at once; :attr:`previous_owner`
        and :attr:`takeover_reason` then say from whom and why. A live one is polled every
        ``poll_interval`` seconds until ``wait`` has passed, then StudyLockedError names it.
        ``driver`` (host, pid): the process this writer works for, named to whoever is refused.
        ``epoch_floor``: the highest writer generation already in the directory's files; the
        new :attr:`epoch` exceeds it even if ``LEASE.json`` was lost or replaced by hand.
        """
        return cls.acquire_in(
            FileSlot(Path(directory)),
            description=description,
            stale_after=stale_after,
            wait=wait,
            poll_interval=poll_interval,
            driver=driver,
            epoch_floor=epoch_floor,
        )

    @classmethod
    def acquire_in(
        cls,
        slot: LeaseSlot,
        *,
        description: str,
        stale_after: float = 30.0,
        wait: float = 0.0,
        poll_interval: float = 0.1,
        driver: tuple[str, int] | None = None,
        epoch_floor: int = 0,
    ) -> Lease:
        """:meth:`acquire` with the lease record in ``slot``."""
        if not stale_after > 0 or not wait >= 0 or not poll_interval > 0 or epoch_floor < 0:
            raise ValueError(
                f"need stale_after > 0, wait >= 0, poll_interval > 0, epoch_floor >= 0; got "
                f"{stale_after}, {wait}, {poll_interval}, {epoch_floor}"
            )
        slot.prepare()
        deadline = time.monotonic() + wait
        while True:
            with slot.exclusive():
                now = time.time()
                read = slot.read()
                current = read.owner
                epoch = max(current.epoch if current is not None else 0, epoch_floor) + 1
                if current is not None and current.released_at is not None:
                    current = None  # free to take; only its epoch counts
                reason = read.problem
                if current is not None:
                    reason = why_dead(current, now, stale_after)
                if current is None or reason is not None:
                    owner = _new_owner(description, now, driver, epoch)
                    written = _write_checked(slot, owner, read)
                    if written is not None:
                        slot.cleanup()
                        return cls(
                            slot,
                            owner,
                            written.version,
                            stale_after=stale_after,
                            previous_owner=current,
                            takeover_reason=reason,
                        )
                    # Another process wrote the record since we read it: look again at once.
                    continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StudyLockedError(_locked_message(slot.location, current, now, stale_after))
            time.sleep(min(poll_interval, remaining))

    @property
    def directory(self) -> Path | str:
        """The study's directory, or its object-store URI."""
        return self._directory

    @property
    def owner(self) -> LeaseOwner:
        return self._owner

    @property
    def epoch(self) -> int:
        """This lease's writer generation: above that of every owner before it."""
        return self._owner.epoch

    @property
    def previous_owner(self) -> LeaseOwner | None:
        """The owner of the dead lease this one took over, if any."""
        return self._previous_owner

    @property
    def takeover_reason(self) -> str | None:
        """Why the previous lease was dead (or its file unreadable); None if there was none."""
        return self._takeover_reason

    def describe_takeover(self) -> str | None:
        """Whom this lease took over from and why, for the log; None if nobody."""
        if self._previous_owner is None:
            return None
        return f"{self._previous_owner.describe(time.time())} ({self._takeover_reason})"

    @property
    def heartbeat_error(self) -> Exception | None:
        """The last error of the heartbeat thread; a StudyLockedError there ended the thread."""
        return self._heartbeat_error

    def _check_ours(self) -> LeaseRead:
        """The record as read now, if it is still ours; StudyLockedError if not."""
        if self._released:
            raise StudyLockedError(f"the lease of {self._directory} was released by this process")
        read = self._slot.read()
        current = read.owner
        if current is not None and current.owner_id == self._owner.owner_id:
            return read
        if current is not None:
            taken = (
                f"was taken over by {current.describe(time.time())}; this process held epoch "
                f"{self._owner.epoch}"
            )
        else:
            taken = f"has disappeared ({read.problem or 'its file was removed'})"
        raise StudyLockedError(
            f"the lease of {self._directory} {taken}; this process must stop writing the study"
        )

    def verify(self) -> None:
        """Raise StudyLockedError unless the lease is still ours. One small read of the record."""
        self._check_ours()

    def heartbeat(self) -> None:
        """Renew the lease, after checking it is still ours (StudyLockedError if not)."""
        with self._mutex, self._slot.exclusive():
            for _ in range(_RENEW_ATTEMPTS):
                owner = dataclasses.replace(self._owner, heartbeat_at=time.time())
                # The check raises once another process has taken the lease over; a write
                # refused while the record still names us (it changed between our read and our
                # write) is tried again on a fresh read.
                written = _write_checked(self._slot, owner, self._check_ours())
                if written is not None:
                    self._owner, self._version = owner, written.version
                    return
            raise StorageError(
                f"the lease of {self._directory} kept changing while it was renewed, yet still "
                f"names this process ({_RENEW_ATTEMPTS} tries); is another raysweep writing "
                "it with this process's owner id?"
            )

    def release(self) -> None:
        """Stop the heartbeat and mark the lease file released if it is still ours. Idempotent.

        The file stays, marked, so that the next owner's epoch counts on from this one.
        """
        self.stop_heartbeat()
        with self._mutex:
            if self._released:
                return
            self._released = True
            with self._slot.exclusive():
                read = self._slot.read()
                current = read.owner
                if current is not None and current.owner_id == self._owner.owner_id:
                    released = dataclasses.replace(self._owner, released_at=time.time())
                    # Refused only if another process took the lease meanwhile: then there is
                    # nothing of ours left to release.
                    _write_checked(self._slot, released, read)

    def start_heartbeat(self, interval: float) -> None:
        """Renew the lease every ``interval`` seconds from a daemon thread.

        ``interval`` must be below the ``stale_after`` the lease was acquired with (a third of it
        leaves room for a slow disk). The thread stops by itself once the lease is lost; see
        :attr:`heartbeat_error`.
        """
        if not 0 < interval < self._stale_after:
            raise ValueError(
                f"the heartbeat interval must be in (0, {self._stale_after:g}) s, the lease's "
                f"stale_after; got {interval}"
            )
        self.stop_heartbeat()
        stop = threading.Event()
        thread = threading.Thread(
            target=self._beat, args=(interval, stop), name="raysweep-lease-heartbeat", daemon=True
        )
        self._beat_stop, self._beat_thread = stop, thread
        thread.start()

    def _beat(self, interval: float, stop: threading.Event) -> None:
        while not stop.wait(interval):
            try:
                self.heartbeat()
            except StudyLockedError as exc:
                self._heartbeat_error = exc
                return
            except OSError as exc:
                # Possibly transient (a full disk, a hiccup of network storage): keep trying;
                # the lease goes stale on its own if this never recovers.
                self._heartbeat_error = exc

    def stop_heartbeat(self) -> None:
        """Stop the heartbeat thread, if running, and wait for it."""
        stop, thread = self._beat_stop, self._beat_thread
        self._beat_stop = self._beat_thread = None
        if stop is not None and thread is not None:
            stop.set()
            if thread is not threading.current_thread():
                thread.join()

    def __enter__(self) -> Lease:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def _new_owner(
    description: str, now: float, driver: tuple[str, int] | None, epoch: int
) -> LeaseOwner:
    me = this_process()
    driver_host, driver_pid = driver if driver is not None else (None, None)
    return LeaseOwner(
        uuid.uuid4().hex,
        me.host,
        me.boot_id,
        me.pid,
        me.pid_start,
        description,
        now,
        now,
        driver_host,
        driver_pid,
        me.machine_id,
        me.pid_namespace,
        epoch,
    )
