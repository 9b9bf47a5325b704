"""The writer lease: one live writer per study; dead owners are taken over, live ones named."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from raysweep.orchestrator._errors import StorageError, StudyLockedError
from raysweep.orchestrator._storage import _lease
from raysweep.orchestrator._storage._lease import LEASE_FILE, Lease, LeaseOwner

# The package's __init__ imports Ray (half a second per child process); the lease needs only the
# standard library, so the children import its modules under a bare package instead.
BARE_PACKAGE = f"""
import sys, types
import raysweep
package = types.ModuleType("raysweep.orchestrator")
package.__path__ = [{str(Path(_lease.__file__).parent)!r}]
sys.modules["raysweep.orchestrator"] = package
"""

# Holds the lease of argv[1] until its stdin closes.
HOLDER = """
import sys
from pathlib import Path
from typing import Any
from raysweep.orchestrator._storage._lease import Lease
lease = Lease.acquire(Path(sys.argv[1]), description="holder process")
print("ready", flush=True)
sys.stdin.read()
"""

# Per line "<directory> <unix start time>": at that time, try to take the lease without waiting
# and print won/lost; leases won are held until stdin closes.
RACER = """
import time
from pathlib import Path
from typing import Any
from raysweep.orchestrator._errors import StudyLockedError
from raysweep.orchestrator._storage._lease import Lease
held = []
print("ready", flush=True)
for line in sys.stdin:
    directory, start = line.split()
    time.sleep(max(0.0, float(start) - time.time()))
    try:
        held.append(Lease.acquire(Path(directory), description="racer"))
        print("won", flush=True)
    except StudyLockedError:
        print("lost", flush=True)
"""


def start(script: str, *args: str) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", BARE_PACKAGE + script, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    return child


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    child = start(HOLDER, str(tmp_path))
    yield child
    if child.poll() is None:
        child.kill()
    child.wait()
    for pipe in (child.stdin, child.stdout):
        if pipe is not None:
            pipe.close()


def read_owner(directory: Path) -> LeaseOwner:
    return LeaseOwner.from_json((directory / LEASE_FILE).read_text())


def write_owner(directory: Path, **changes: Any) -> LeaseOwner:
    now = time.time()
    owner = LeaseOwner(
        owner_id="f" * 32,
        host="other-host.example",
        boot_id=None,
        pid=4242,
        pid_start=None,
        description="hand-written",
        acquired_at=now,
        heartbeat_at=now,
    )
    owner = dataclasses.replace(owner, **changes)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / LEASE_FILE).write_text(owner.to_json())
    return owner


def test_acquire_writes_the_owner_and_release_marks_it_released(tmp_path: Path) -> None:
    lease = Lease.acquire(tmp_path / "study", description="driver of test")
    owner = read_owner(tmp_path / "study")
    assert owner == lease.owner
    assert (owner.pid, owner.host, owner.description) == (
        os.getpid(),
        socket.gethostname(),
        "driver of test",
    )
    assert owner.pid_start is not None  # Linux: the process start time guards pid reuse
    assert lease.previous_owner is None and lease.takeover_reason is None
    assert lease.epoch == owner.epoch == 1 and owner.released_at is None
    lease.release()
    lease.release()
    released = read_owner(tmp_path / "study")
    assert released.owner_id == owner.owner_id and released.released_at is not None
    with pytest.raises(StudyLockedError, match="released"):
        lease.verify()
    with Lease.acquire(tmp_path / "study", description="again") as again:
        assert again.previous_owner is None and again.takeover_reason is None
        assert again.epoch == 2
    assert read_owner(tmp_path / "study").released_at is not None


def test_the_epoch_grows_with_every_takeover_and_exceeds_the_floor(tmp_path: Path) -> None:
    write_owner(tmp_path, heartbeat_at=time.time() - 60, epoch=7)
    with Lease.acquire(tmp_path, description="me", stale_after=30) as lease:
        assert lease.previous_owner is not None and lease.epoch == 8
    with Lease.acquire(tmp_path, description="me", epoch_floor=20) as lease:
        assert lease.epoch == 21
    (tmp_path / LEASE_FILE).unlink()  # lost, or removed by hand: the floor still holds
    with Lease.acquire(tmp_path, description="me", epoch_floor=21) as lease:
        assert lease.epoch == 22
    with pytest.raises(ValueError, match="epoch_floor"):
        Lease.acquire(tmp_path, description="me", epoch_floor=-1)


def test_a_lease_file_without_an_epoch_reads_as_epoch_0(tmp_path: Path) -> None:
    data = json.loads(write_owner(tmp_path, heartbeat_at=time.time() - 60).to_json())
    del data["epoch"], data["released_at"]
    (tmp_path / LEASE_FILE).write_text(json.dumps(data))
    assert read_owner(tmp_path).epoch == 0
    with Lease.acquire(tmp_path, description="me", stale_after=30) as lease:
        assert lease.epoch == 1


@pytest.mark.parametrize("epoch", [-1, 1.5, True, "3"])
def test_a_lease_file_with_a_bad_epoch_is_unreadable(tmp_path: Path, epoch: object) -> None:
    data = json.loads(write_owner(tmp_path).to_json())
    data["epoch"] = epoch
    with pytest.raises(ValueError, match="epoch"):
        LeaseOwner.from_json(json.dumps(data))


def test_second_acquire_in_the_same_process_names_the_owner(tmp_path: Path) -> None:
    with (
        Lease.acquire(tmp_path, description="first writer"),
        pytest.raises(StudyLockedError) as info,
    ):
        Lease.acquire(tmp_path, description="second")
    message = str(info.value)
    assert f"pid {os.getpid()}" in message and "first writer" in message
    assert "this very process" in message and "last heartbeat" in message


def test_a_live_process_keeps_the_lease_for_the_whole_wait(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    began = time.monotonic()
    with pytest.raises(StudyLockedError, match=f"pid {holder.pid} .*holder process") as info:
        Lease.acquire(tmp_path, description="me", wait=0.3, poll_interval=0.05)
    assert f"kill {holder.pid}" in str(info.value)
    assert time.monotonic() - began >= 0.3


def test_a_killed_owner_is_taken_over_at_once(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    lease = Lease.acquire(tmp_path, description="successor")
    assert lease.previous_owner is not None and lease.previous_owner.pid == holder.pid
    assert lease.takeover_reason == f"its process (pid {holder.pid}) is gone"
    lease.release()


def test_a_killed_owner_not_yet_reaped_is_taken_over(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    # Until its parent waits for it, a killed process is a zombie: its pid still answers kill(0).
    holder.send_signal(signal.SIGKILL)
    with Lease.acquire(tmp_path, description="successor", wait=5.0, poll_interval=0.01) as lease:
        assert lease.previous_owner is not None and lease.previous_owner.pid == holder.pid


def test_a_reused_pid_is_not_mistaken_for_the_owner(tmp_path: Path) -> None:
    mine = Lease.acquire(tmp_path / "probe", description="probe").owner
    write_owner(tmp_path, host=mine.host, boot_id=mine.boot_id, pid=os.getpid(), pid_start=1)
    with Lease.acquire(tmp_path, description="me") as lease:
        assert lease.takeover_reason is not None and "is gone" in lease.takeover_reason


def test_an_owner_from_before_a_reboot_is_dead(tmp_path: Path) -> None:
    mine = Lease.acquire(tmp_path / "probe", description="probe").owner
    if mine.boot_id is None or mine.machine_id is None:
        pytest.skip("no boot id or machine id on this system")
    write_owner(
        tmp_path,
        host=mine.host,
        machine_id=mine.machine_id,
        boot_id="an-earlier-boot",
        pid=os.getpid(),
    )
    with Lease.acquire(tmp_path, description="me") as lease:
        assert lease.takeover_reason == "this machine has rebooted since it took the lease"


def test_a_stale_foreign_lease_is_taken_over(tmp_path: Path) -> None:
    old = write_owner(tmp_path, heartbeat_at=time.time() - 60)
    with Lease.acquire(tmp_path, description="me", stale_after=30) as lease:
        assert lease.previous_owner == old
        assert lease.takeover_reason is not None and "60." in lease.takeover_reason


def test_a_fresh_foreign_lease_is_refused_with_how_long_to_wait(tmp_path: Path) -> None:
    write_owner(tmp_path, heartbeat_at=time.time() - 10)
    with pytest.raises(StudyLockedError) as info:
        Lease.acquire(tmp_path, description="me", stale_after=30)
    message = str(info.value)
    assert "pid 4242 on host 'other-host.example'" in message and "hand-written" in message
    assert "wait 20 s" in message


def test_waiting_outlasts_a_foreign_lease_that_goes_stale(tmp_path: Path) -> None:
    write_owner(tmp_path)
    with Lease.acquire(tmp_path, description="me", stale_after=0.3, wait=3.0, poll_interval=0.05):
        pass


def test_an_unreadable_lease_file_is_taken_over(tmp_path: Path) -> None:
    (tmp_path / LEASE_FILE).write_text('{"owner_id": "trunc')
    with Lease.acquire(tmp_path, description="me") as lease:
        assert lease.previous_owner is None
        assert lease.takeover_reason is not None and "unreadable" in lease.takeover_reason


def test_acquire_in_an_uncreatable_directory_raises_storage_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(StorageError, match="file/study"):
        Lease.acquire(tmp_path / "file" / "study", description="me")


def test_heartbeat_renews_and_stops_once_another_owner_took_over(tmp_path: Path) -> None:
    lease = Lease.acquire(tmp_path, description="slow", stale_after=30)
    before = read_owner(tmp_path).heartbeat_at
    time.sleep(0.01)
    lease.heartbeat()
    lease.verify()
    assert read_owner(tmp_path).heartbeat_at > before

    # Pretend the owner stalled for a minute: another process declares it stale and takes over.
    (tmp_path / LEASE_FILE).write_text(
        dataclasses.replace(lease.owner, heartbeat_at=time.time() - 60).to_json()
    )
    successor = Lease.acquire(tmp_path, description="successor", stale_after=30)
    assert successor.epoch == lease.epoch + 1
    with pytest.raises(
        StudyLockedError, match=r"taken over by .*successor.*epoch 2.*held epoch 1.*stop writing"
    ):
        lease.heartbeat()
    with pytest.raises(StudyLockedError):
        lease.verify()
    lease.release()  # must not remove the successor's lease
    assert read_owner(tmp_path) == successor.owner
    successor.release()


def test_heartbeat_thread_renews_and_records_a_takeover(tmp_path: Path) -> None:
    lease = Lease.acquire(tmp_path, description="beating", stale_after=5)
    with pytest.raises(ValueError, match="interval"):
        lease.start_heartbeat(5)
    lease.start_heartbeat(0.02)
    first = read_owner(tmp_path).heartbeat_at
    deadline = time.monotonic() + 3
    while read_owner(tmp_path).heartbeat_at == first and time.monotonic() < deadline:
        time.sleep(0.01)
    assert read_owner(tmp_path).heartbeat_at > first
    other = write_owner(tmp_path)
    while lease.heartbeat_error is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert isinstance(lease.heartbeat_error, StudyLockedError)
    lease.release()
    assert read_owner(tmp_path) == other


def test_lease_file_is_plain_json(tmp_path: Path) -> None:
    with Lease.acquire(tmp_path, description="me"):
        data = json.loads((tmp_path / LEASE_FILE).read_text())
    assert set(data) == {
        "owner_id",
        "host",
        "boot_id",
        "pid",
        "pid_start",
        "description",
        "acquired_at",
        "heartbeat_at",
        "driver_host",
        "driver_pid",
        "machine_id",
        "pid_namespace",
        "epoch",
        "released_at",
    }


def test_a_writer_for_a_driver_names_the_driver_to_stop(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    # The holder process writes for a driver (a TrialScheduler actor does, for its driver).
    data = json.loads((tmp_path / LEASE_FILE).read_text())
    data.update(driver_host=socket.gethostname(), driver_pid=4242)
    (tmp_path / LEASE_FILE).write_text(json.dumps(data))
    with pytest.raises(StudyLockedError) as info:
        Lease.acquire(tmp_path, description="me")
    message = str(info.value)
    assert f"the driver pid 4242 on host {socket.gethostname()!r}" in message
    assert f"written by pid {holder.pid}" in message and "kill 4242" in message


def test_a_lease_file_without_driver_keys_still_reads(tmp_path: Path) -> None:
    with Lease.acquire(tmp_path, description="me") as lease:
        data = json.loads((tmp_path / LEASE_FILE).read_text())
        for key in ("driver_host", "driver_pid"):
            del data[key]
        assert LeaseOwner.from_json(json.dumps(data)) == dataclasses.replace(
            lease.owner, driver_host=None, driver_pid=None
        )


def test_processes_racing_for_a_lease_have_exactly_one_winner(tmp_path: Path) -> None:
    racers = [start(RACER) for _ in range(4)]
    try:
        for round_ in range(5):
            directory = tmp_path / f"round-{round_}"
            line = f"{directory} {time.time() + 0.15}\n"
            for racer in racers:
                assert racer.stdin is not None
                racer.stdin.write(line)
                racer.stdin.flush()
            results = [racer.stdout.readline().strip() for racer in racers if racer.stdout]
            assert sorted(results) == ["lost", "lost", "lost", "won"], round_
            winner = racers[results.index("won")]
            assert read_owner(directory).pid == winner.pid
    finally:
        for racer in racers:
            if racer.stdin is not None:
                racer.stdin.close()
        for racer in racers:
            racer.wait(timeout=10)
            if racer.stdout is not None:
                racer.stdout.close()


def _a_pid_that_does_not_exist() -> int:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(child.stdout)


@pytest.mark.parametrize("boot_id", ["another-machines-boot", None])
def test_a_live_lease_of_another_machine_with_this_hostname_is_not_taken(
    tmp_path: Path, boot_id: str | None
) -> None:
    # Two machines named alike share the storage: the other one's pid means nothing here, so
    # only its heartbeat (fresh) may decide.
    data = json.loads(write_owner(tmp_path, host=socket.gethostname()).to_json())
    data.update(machine_id="another-machines-id", boot_id=boot_id, pid=_a_pid_that_does_not_exist())
    (tmp_path / LEASE_FILE).write_text(json.dumps(data))
    with pytest.raises(StudyLockedError, match="hand-written") as info:
        Lease.acquire(tmp_path, description="me", stale_after=30)
    assert read_owner(tmp_path).owner_id == "f" * 32
    message = str(info.value)
    assert "another machine of that name" in message and "kill" not in message


def test_a_lease_records_this_machine(tmp_path: Path) -> None:
    with Lease.acquire(tmp_path, description="me") as lease:
        owner = read_owner(tmp_path)
    assert owner == lease.owner
    machine_id = next(
        (
            text
            for path in ("/etc/machine-id", "/var/lib/dbus/machine-id")
            if os.path.exists(path) and (text := Path(path).read_text().strip())
        ),
        None,
    )
    assert owner.machine_id == machine_id
    if os.path.exists("/proc/self/ns/pid"):
        assert owner.pid_namespace == os.readlink("/proc/self/ns/pid")


def _old_lease(directory: Path, **changes: Any) -> None:
    """A LEASE.json as raysweep wrote it before machine ids: no machine_id, no pid_namespace."""
    data = json.loads(write_owner(directory, host=socket.gethostname(), **changes).to_json())
    del data["machine_id"], data["pid_namespace"]
    (directory / LEASE_FILE).write_text(json.dumps(data))


def test_an_old_lease_of_this_boot_whose_pid_is_gone_is_taken_over(tmp_path: Path) -> None:
    mine = Lease.acquire(tmp_path / "probe", description="probe").owner
    if mine.boot_id is None:
        pytest.skip("no boot id on this system")
    _old_lease(tmp_path, boot_id=mine.boot_id, pid=_a_pid_that_does_not_exist())
    with Lease.acquire(tmp_path, description="me") as lease:
        assert lease.takeover_reason is not None and "is gone" in lease.takeover_reason


@pytest.mark.parametrize("boot_id", ["an-earlier-boot-or-another-machine", None])
def test_an_old_lease_not_of_this_boot_is_judged_by_its_heartbeat(
    tmp_path: Path, boot_id: str | None
) -> None:
    # Without a machine id, a different (or missing) boot id may be a reboot or another machine
    # of this name: the safe reading waits for the heartbeat to go stale.
    mine = Lease.acquire(tmp_path / "probe", description="probe").owner
    if mine.boot_id is None and mine.machine_id is None:
        pytest.skip("no boot id or machine id on this system: the hostname is all there is")
    _old_lease(tmp_path, boot_id=boot_id, pid=_a_pid_that_does_not_exist())
    with pytest.raises(StudyLockedError, match="hand-written"):
        Lease.acquire(tmp_path, description="me", stale_after=30)
    _old_lease(
        tmp_path, boot_id=boot_id, pid=_a_pid_that_does_not_exist(), heartbeat_at=time.time() - 60
    )
    with Lease.acquire(tmp_path, description="me", stale_after=30) as lease:
        assert lease.takeover_reason is not None and "heartbeat" in lease.takeover_reason


def test_a_lease_of_another_pid_namespace_is_judged_by_its_heartbeat(tmp_path: Path) -> None:
    # Another container of this machine: its pid names some other process here, or none.
    mine = Lease.acquire(tmp_path / "probe", description="probe").owner
    if mine.pid_namespace is None:
        pytest.skip("no pid namespace on this system")
    write_owner(
        tmp_path,
        host=mine.host,
        machine_id=mine.machine_id,
        boot_id=mine.boot_id,
        pid_namespace="pid:[1]",
        pid=_a_pid_that_does_not_exist(),
    )
    with pytest.raises(StudyLockedError, match="hand-written"):
        Lease.acquire(tmp_path, description="me", stale_after=30)


def test_without_any_machine_or_boot_id_the_hostname_decides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from raysweep.orchestrator._storage import _lease_owner

    missing = tmp_path / "no-such-id"
    monkeypatch.setattr(_lease_owner, "_MACHINE_ID_FILES", (missing,))
    monkeypatch.setattr(_lease_owner, "_BOOT_ID_FILE", missing)
    write_owner(tmp_path, host=socket.gethostname(), pid=_a_pid_that_does_not_exist())
    with Lease.acquire(tmp_path, description="me") as lease:
        assert lease.owner.machine_id is None and lease.owner.boot_id is None
        assert lease.takeover_reason is not None and "is gone" in lease.takeover_reason


def _count_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    parsed: list[str] = []
    parse = _lease.parse_owner

    def counted(text: str, what: str, version: str) -> _lease.LeaseRead:
        parsed.append(text)
        return parse(text, what, version)

    monkeypatch.setattr(_lease, "parse_owner", counted)
    return parsed


def test_verify_rereads_the_lease_file_only_when_it_was_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every commit verifies the lease: reading and parsing the record each time cost more than
    # the rest of a small commit. An unchanged file (same inode, times and size) holds the record
    # last read; a file replaced or rewritten is read again by the next verify.
    lease = Lease.acquire(tmp_path, description="writer", stale_after=30)
    parsed = _count_parses(monkeypatch)
    lease.verify()
    for _ in range(50):
        lease.verify()
    assert len(parsed) <= 1
    successor = write_owner(tmp_path)  # rewritten in place, of another size
    with pytest.raises(StudyLockedError, match=r"taken over by .*hand-written"):
        lease.verify()
    assert len(parsed) == 2
    assert read_owner(tmp_path) == successor


def test_verify_rereads_an_unchanged_lease_file_after_a_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A file's attributes may be cached (NFS): past a second, the record itself is read again.
    lease = Lease.acquire(tmp_path, description="writer", stale_after=30)
    parsed = _count_parses(monkeypatch)
    lease.verify()
    lease.verify()
    later = time.monotonic() + 1.5
    monkeypatch.setattr(_lease.time, "monotonic", lambda: later)
    lease.verify()
    assert len(parsed) == 2
