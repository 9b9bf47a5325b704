"""Who holds a lease, and whether that owner is still alive.

An owner's pid means something only on the machine (and in the pid namespace) that wrote it.
Machines are told apart by their machine id (``/etc/machine-id``, else
``/var/lib/dbus/machine-id``) and their boot by ``/proc/sys/kernel/random/boot_id``; a hostname
alone is not enough, since two machines sharing the storage may have the same one. The owner
runs on this machine when the hostname matches and

- both sides have a machine id and the ids match (a different boot id then means the machine
  rebooted, so the owner is gone); else
- both sides have a boot id and the ids match: the same boot of the same kernel. A different
  boot id without machine ids may be a reboot or another machine, so it proves nothing; else
- neither side has either id: the hostname is all there is.

Anything else — in particular one side with an id the other cannot compare — is another
machine. A ``LEASE.json`` written before machine ids were recorded falls under the boot id rule:
its pid is judged only on the very boot that wrote it, which no second machine shares, and the
heartbeat decides everywhere else (after a reboot too: the safe choice, at the cost of waiting
``stale_after`` once). Where both sides record their pid namespace, a different one means
another container: the pid is not ours to look up.

On this machine liveness is exact: the owner's pid must exist, not be a zombie, and have the
start time recorded when the lease was taken (``/proc/<pid>/stat`` field 22). Elsewhere only the
heartbeat's age can tell.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

__all__ = ["LeaseOwner", "ProcessIdentity", "on_this_machine", "this_process", "why_dead"]

_MACHINE_ID_FILES = (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id"))
_BOOT_ID_FILE = Path("/proc/sys/kernel/random/boot_id")


@dataclass(frozen=True)
class LeaseOwner:
    """Who holds a lease, as written in ``LEASE.json``. Times are unix seconds."""

    owner_id: str
    host: str
    boot_id: str | None
    pid: int
    pid_start: int | None
    description: str
    acquired_at: float
    heartbeat_at: float
    # The process the writer works for, when that is another one: the driver whose study a
    # TrialScheduler actor writes. The writer's own pid decides liveness (Ray restarts a dead
    # actor, which then takes over); the driver is who a person should stop.
    driver_host: str | None = None
    driver_pid: int | None = None
    # Where the pid lives (see the module docstring). None in a lease written before they were
    # recorded, or where the machine has none.
    machine_id: str | None = None
    pid_namespace: str | None = None
    # The writer generation: one more than the lease's before, at every acquisition and
    # takeover, so that files stamped with it tell a newer writer from a stalled older one.
    # 0 in a lease written before epochs.
    epoch: int = 0
    # Set when the owner released the lease. The file stays, so that the next owner's epoch
    # still counts on from this one; a released lease is free to take.
    released_at: float | None = None

    @classmethod
    def from_json(cls, text: str) -> LeaseOwner:
        data: Any = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        try:
            owner = cls(
                **{
                    f.name: data[f.name]
                    for f in dataclasses.fields(cls)
                    if f.name in data or f.default is dataclasses.MISSING
                }
            )
        except KeyError as exc:
            raise ValueError(f"field {exc} is missing") from exc
        if not isinstance(owner.pid, int) or owner.pid <= 0:
            raise ValueError(f"bad pid {owner.pid!r}")
        if not all(isinstance(t, int | float) for t in (owner.acquired_at, owner.heartbeat_at)):
            raise ValueError("bad time stamps")
        if type(owner.epoch) is not int or owner.epoch < 0:
            raise ValueError(f"bad epoch {owner.epoch!r}")
        if owner.released_at is not None and not isinstance(owner.released_at, int | float):
            raise ValueError(f"bad release time {owner.released_at!r}")
        return owner

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1) + "\n"

    def describe(self, now: float) -> str:
        local = datetime.datetime.fromtimestamp(self.acquired_at).astimezone()
        since = local.isoformat(timespec="seconds")
        writer = f"pid {self.pid} on host {self.host!r} ({self.description!r})"
        if self.driver_pid is not None:
            writer = (
                f"the driver pid {self.driver_pid} on host {self.driver_host!r}, whose study is "
                f"written by {writer}"
            )
        if self.released_at is not None:
            return (
                f"{writer}, which held the lease from {since} (epoch {self.epoch}) and released it"
            )
        return (
            f"{writer}, holding the lease since {since} (epoch {self.epoch}, last heartbeat "
            f"{now - self.heartbeat_at:.1f} s ago)"
        )

    @property
    def stop_target(self) -> tuple[str, int]:
        """(host, pid) of the process to stop to free the study: the driver, if there is one."""
        if self.driver_pid is not None and self.driver_host is not None:
            return self.driver_host, self.driver_pid
        return self.host, self.pid


class ProcessIdentity(NamedTuple):
    """This process as a lease records it."""

    host: str
    machine_id: str | None
    boot_id: str | None
    pid_namespace: str | None
    pid: int
    pid_start: int | None


def _read_id(path: Path) -> str | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    # systemd writes "uninitialized" until the first boot has committed the id.
    return text if text and text != "uninitialized" else None


def _machine_id() -> str | None:
    for path in _MACHINE_ID_FILES:
        if (found := _read_id(path)) is not None:
            return found
    return None


def _pid_namespace() -> str | None:
    try:
        return os.readlink("/proc/self/ns/pid")  # "pid:[4026531836]"
    except OSError:
        return None


def _process_stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks since boot) from /proc/<pid>/stat, if readable."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses; fields after it start at 3.
    try:
        fields = text[text.rindex(")") + 2 :].split()
        return fields[0], int(fields[19])
    except (ValueError, IndexError):
        return None


def _process_alive(pid: int, start: int | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, owned by another user
    stat = _process_stat(pid)
    if stat is None:
        # No /proc (not Linux) or a format we do not know: the signal test is all we have. With
        # /proc, a missing entry means the process ended after the signal test.
        return not Path("/proc/self").exists() or Path(f"/proc/{pid}").exists()
    state, started = stat
    if state in ("Z", "X"):
        return False
    return start is None or started == start


def this_process() -> ProcessIdentity:
    pid = os.getpid()
    stat = _process_stat(pid)
    return ProcessIdentity(
        socket.gethostname(),
        _machine_id(),
        _read_id(_BOOT_ID_FILE),
        _pid_namespace(),
        pid,
        stat[1] if stat else None,
    )


def _same_machine(owner: LeaseOwner, me: ProcessIdentity) -> bool:
    """Whether ``owner`` ran on this machine, maybe on an earlier boot (module docstring)."""
    if owner.host != me.host:
        return False
    if owner.machine_id and me.machine_id:
        return owner.machine_id == me.machine_id
    if owner.boot_id and me.boot_id:
        return owner.boot_id == me.boot_id
    # One side has an id the other cannot compare: nothing says it is this machine.
    return not (owner.machine_id or owner.boot_id or me.machine_id or me.boot_id)


def _rebooted(owner: LeaseOwner, me: ProcessIdentity) -> bool:
    return bool(owner.boot_id and me.boot_id and owner.boot_id != me.boot_id)


def _same_pid_space(owner: LeaseOwner, me: ProcessIdentity) -> bool:
    if not owner.pid_namespace or not me.pid_namespace:
        return True  # not recorded (an older lease, or no /proc): the machine test stands alone
    return owner.pid_namespace == me.pid_namespace


def on_this_machine(owner: LeaseOwner) -> bool:
    """Whether ``owner``'s pid names a process of this machine's current boot, as seen here."""
    me = this_process()
    return _same_machine(owner, me) and not _rebooted(owner, me) and _same_pid_space(owner, me)


def why_dead(owner: LeaseOwner, now: float, stale_after: float) -> str | None:
    """Why ``owner``'s lease may be taken over, or None while it is live."""
    age = now - owner.heartbeat_at
    if age > stale_after:
        return f"its last heartbeat is {age:.1f} s old (stale after {stale_after:g} s)"
    me = this_process()
    if not _same_machine(owner, me):
        return None  # another machine, maybe of the same name: its pid means nothing here
    if _rebooted(owner, me):
        return "this machine has rebooted since it took the lease"
    if not _same_pid_space(owner, me):
        return None  # another container of this machine: the pid is not ours to look up
    if not _process_alive(owner.pid, owner.pid_start):
        return f"its process (pid {owner.pid}) is gone"
    return None
