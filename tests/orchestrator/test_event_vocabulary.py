"""The typed event vocabulary: every kind has one payload, payloads round-trip through JSON, and
a reader handles what a writer may add (unknown keys) and refuses what it may not (unknown
kinds, missing keys)."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from raysweep.orchestrator import CorruptLogError
from raysweep.orchestrator._core import _events as ev
from raysweep.orchestrator._core._state import StudyState
from raysweep.orchestrator._storage._event import Event

EXAMPLES: list[tuple[ev.Payload, int | None, dict[str, object]]] = [
    (
        ev.StudyCreated("s", ["minimize"], 7, "create_study", {"class": "X"}, {"type": "none"}),
        None,
        {
            "name": "s",
            "directions": ["minimize"],
            "seed": 7,
            "seed_source": "create_study",
            "sampler": {"class": "X"},
            "scheduler": {"type": "none"},
        },
    ),
    (
        ev.WriterStarted("h", None, None),
        None,
        {"host": "h", "took_over_from": None, "replay": None},
    ),
    (ev.OptimizeStarted(10, 2), None, {"n_trials": 10, "concurrency": 2}),
    (ev.OptimizeStopped(), None, {}),
    (ev.OptimizeStopped("sampler exhausted"), None, {"reason": "sampler exhausted"}),
    (ev.TrialCreated("optimize"), 0, {"origin": "optimize"}),
    (ev.TrialCreated("optimize", 2), 0, {"origin": "optimize", "bracket": 2}),
    (ev.TrialStarted(0, "r1"), 0, {"attempt": 0, "runner": "r1"}),
    (ev.TrialStarted(1, "r1", 3), 0, {"attempt": 1, "runner": "r1", "resume_step": 3}),
    (
        ev.TrialStarted(0, "r1", None, {"runner": "r1", "resources": {"GPU": 0.5}, "nodes": ["n"]}),
        0,
        {
            "attempt": 0,
            "runner": "r1",
            "placement": {"runner": "r1", "resources": {"GPU": 0.5}, "nodes": ["n"]},
        },
    ),
    (
        ev.ParamDrawn("x", {"type": "float"}, 0.5),
        0,
        {"name": "x", "distribution": {"type": "float"}, "value": 0.5},
    ),
    (ev.ReportMade(0, 1, 0.25), 0, {"attempt": 0, "step": 1, "value": 0.25}),
    (
        ev.ReportMade(0, 2, math.inf, judged=False),
        0,
        {"attempt": 0, "step": 2, "value": "inf", "judged": False},
    ),
    (
        ev.DecisionMade(0, "stop", "worst", 1),
        0,
        {"attempt": 0, "action": "stop", "reason": "worst", "rung": 1},
    ),
    (ev.UserAttrSet("k", [1, "a"]), 0, {"key": "k", "value": [1, "a"]}),
    (ev.TrialPaused(0, 3, "/c"), 0, {"attempt": 0, "step": 3, "checkpoint": "/c"}),
    (
        ev.TrialResumed(0, 3, "top", runner="r2"),
        0,
        {"trial": 0, "rung": 3, "reason": "top", "runner": "r2"},
    ),
    (
        ev.TrialResumed(0, 3, "top", skipped="running"),
        0,
        {"trial": 0, "rung": 3, "reason": "top", "skipped": "running"},
    ),
    (ev.TrialInterrupted(0, "lost", True), 0, {"attempt": 0, "reason": "lost", "crash": True}),
    (
        ev.TrialFinished(0, "complete", (1.0, -math.inf), None),
        0,
        {"attempt": 0, "state": "complete", "values": [1.0, "-inf"], "error": None},
    ),
    (
        ev.TrialFinished(0, "complete", (1.0,), None, (0.0, -1.0)),
        0,
        {
            "attempt": 0,
            "state": "complete",
            "values": [1.0],
            "error": None,
            "constraints": [0.0, -1.0],
        },
    ),
]


def test_every_kind_has_one_payload_class_and_an_example_here() -> None:
    classes = {c.kind for c in ev.Payload.__subclasses__()}
    assert classes == set(ev.EventKind)
    assert {p.kind for p, _, _ in EXAMPLES} == set(ev.EventKind)


@pytest.mark.parametrize(("payload", "trial", "stored"), EXAMPLES)
def test_payloads_are_stored_as_the_documented_keys_and_read_back(
    payload: ev.Payload, trial: int | None, stored: dict[str, object]
) -> None:
    assert payload.to_json() == stored
    text = json.dumps(payload.to_json(), allow_nan=False)  # JSON cannot carry NaN: spelled out
    assert ev.decode_payload(payload.kind.value, trial, json.loads(text)) == payload


def test_a_key_this_version_does_not_know_is_ignored() -> None:
    stored = {"attempt": 0, "runner": "r", "from_a_later_minor_writer": 1}
    assert ev.decode_payload("trial_started", 0, stored) == ev.TrialStarted(0, "r")


@pytest.mark.parametrize(
    ("kind", "trial", "payload", "match"),
    [
        ("trial_teleported", 0, {}, "unknown event kind 'trial_teleported'.*upgrade raysweep"),
        ("report", 0, {"attempt": 0, "step": 1}, "no 'value' key"),
        ("report", None, {"attempt": 0, "step": 1, "value": 1.0}, "must name a trial"),
        ("optimize_started", 3, {"n_trials": 1, "concurrency": 1}, "must not name a trial"),
    ],
)
def test_what_no_raysweep_writes_is_refused(
    kind: str, trial: int | None, payload: dict[str, object], match: str
) -> None:
    with pytest.raises(CorruptLogError, match=match):
        ev.decode_payload(kind, trial, payload)


def test_the_state_refuses_an_event_about_a_trial_never_created() -> None:
    state = StudyState()
    stray = ev.TrialFinished(0, "complete", (1.0,), None)
    with pytest.raises(CorruptLogError, match="trial 5, which no trial_created"):
        state.apply(Event(0, 0.0, stray.kind.value, 5, stray.to_json()))


def test_payloads_are_frozen_values() -> None:
    payload = ev.TrialStarted(0, "r")
    with pytest.raises(dataclasses.FrozenInstanceError):
        payload.attempt = 1  # type: ignore[misc]
