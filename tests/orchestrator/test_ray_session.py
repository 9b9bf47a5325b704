"""How raysweep finds Ray when the caller did not start it (no real Ray: ray.init is recorded)."""

from __future__ import annotations

from typing import Any

import pytest

from raysweep.orchestrator import _ray_session


class _FakeRay:
    def __init__(self, *, running_cluster: bool, initialized: bool = False) -> None:
        self.running_cluster = running_cluster
        self.initialized = initialized
        self.calls: list[dict[str, Any]] = []

    def is_initialized(self) -> bool:
        return self.initialized

    def init(self, **kwargs: Any) -> None:
        self.calls.append(kwargs)
        if kwargs.get("address") == "auto" and not self.running_cluster:
            raise ConnectionError("Could not find any running Ray instance")
        self.initialized = True


@pytest.mark.parametrize(
    ("env", "running", "expected"),
    [
        ({"RAY_ADDRESS": "10.0.0.1:6379"}, False, [{"address": "10.0.0.1:6379"}]),
        ({}, True, [{"address": "auto"}]),
        ({}, False, [{"address": "auto"}, {"include_dashboard": False}]),
    ],
)
def test_attach_or_start(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], running: bool, expected: list[Any]
) -> None:
    fake = _FakeRay(running_cluster=running)
    monkeypatch.setattr(_ray_session, "ray", fake)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    _ray_session.ensure_ray()
    assert fake.calls == expected and fake.initialized


def test_a_ray_the_caller_started_is_used_as_is(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _FakeRay(running_cluster=False, initialized=True)
    monkeypatch.setattr(_ray_session, "ray", fake)
    _ray_session.ensure_ray()
    assert fake.calls == []
