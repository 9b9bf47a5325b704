"""How raysweep finds Ray when the caller did not start it (no real Ray: ray.init is recorded).

It joins only the cluster the user means — RAY_ADDRESS, or the one `ray start` recorded for this
user — and otherwise starts its own local Ray, never any Ray it happens to find running.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from raysweep.orchestrator._ray import _session as _ray_session


class _FakeRay:
    def __init__(self, *, initialized: bool = False) -> None:
        self.initialized = initialized
        self.calls: list[dict[str, Any]] = []

    def is_initialized(self) -> bool:
        return self.initialized

    def init(self, **kwargs: Any) -> None:
        self.calls.append(kwargs)
        self.initialized = True


@pytest.fixture
def listening() -> Iterator[str]:
    """The address of something answering on loopback, as a live head's GCS would."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield f"127.0.0.1:{server.getsockname()[1]}"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> _FakeRay:
    fake = _FakeRay()
    monkeypatch.setattr(_ray_session, "ray", fake)
    monkeypatch.setattr(_ray_session, "_address_file", lambda: tmp_path / "ray_current_cluster")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    return fake


def test_ray_address_is_joined(
    fake: _FakeRay, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")
    _ray_session.ensure_ray()
    assert fake.calls == [{"address": "10.0.0.1:6379"}]
    assert "joined the Ray cluster at 10.0.0.1:6379 (from RAY_ADDRESS)" in capsys.readouterr().err


def test_a_cluster_ray_start_recorded_for_this_user_is_joined(
    fake: _FakeRay, tmp_path: Path, listening: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "ray_current_cluster").write_text(listening + "\n")
    _ray_session.ensure_ray()
    assert fake.calls == [{"address": listening}]
    assert "started by `ray start`" in capsys.readouterr().err


@pytest.mark.parametrize("recorded", ["none", "dead", "garbage"])
def test_otherwise_a_local_ray_is_started_and_nothing_else_joined(
    fake: _FakeRay, tmp_path: Path, recorded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{closed.getsockname()[1]}"  # nothing listens there
    if recorded == "dead":
        (tmp_path / "ray_current_cluster").write_text(dead)
    elif recorded == "garbage":
        (tmp_path / "ray_current_cluster").write_text("not an address")
    _ray_session.ensure_ray()
    # "local" makes Ray start a new instance instead of searching the machine for one.
    assert fake.calls == [{"address": "local", "include_dashboard": False}]
    assert "started a local Ray" in capsys.readouterr().err


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to own a file as another user")
def test_a_cluster_recorded_by_another_user_is_not_joined(
    fake: _FakeRay, tmp_path: Path, listening: str
) -> None:
    path = tmp_path / "ray_current_cluster"
    path.write_text(listening)
    os.chown(path, 12345, 12345)
    _ray_session.ensure_ray()
    assert fake.calls == [{"address": "local", "include_dashboard": False}]


def test_a_ray_the_caller_started_is_used_as_is(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _FakeRay(initialized=True)
    monkeypatch.setattr(_ray_session, "ray", fake)
    assert _ray_session.ensure_ray() is None
    assert fake.calls == []
