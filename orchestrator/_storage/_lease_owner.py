"""Who holds a lease, and whether that owner is still alive.

Liveness on this host is exact: the owner's pid must exist, not be a zombie, and have the start
time recorded when the lease was taken (``/proc/<pid>/stat`` field 22), on the same boot. For
another host only the heartbeat's age can tell.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["LeaseOwner", "this_process", "why_dead"]


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
        return (
            f"{writer}, holding the lease since {since} (last heartbeat "
            f"{now - self.heartbeat_at:.1f} s ago)"
        )

    @property
    def stop_target(self) -> tuple[str, int]:
        """(host, pid) of the process to stop to free the study: the driver, if there is one."""
        if self.driver_pid is not None and self.driver_host is not None:
            return self.driver_host, self.driver_pid
        return self.host, self.pid


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
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


def this_process() -> tuple[str, str | None, int, int | None]:
    pid = os.getpid()
    stat = _process_stat(pid)
    return socket.gethostname(), _boot_id(), pid, stat[1] if stat else None


def why_dead(owner: LeaseOwner, now: float, stale_after: float) -> str | None:
    """Why ``owner``'s lease may be taken over, or None while it is live."""
    age = now - owner.heartbeat_at
    if age > stale_after:
        return f"its last heartbeat is {age:.1f} s old (stale after {stale_after:g} s)"
    host, boot_id, _, _ = this_process()
    if owner.host != host:
        return None
    if owner.boot_id and boot_id and owner.boot_id != boot_id:
        return "this host has rebooted since it took the lease"
    if not _process_alive(owner.pid, owner.pid_start):
        return f"its process (pid {owner.pid}) is gone"
    return None
