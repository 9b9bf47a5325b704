"""A study log written by raysweep 0.1 (schema 1) replays to the same trials, forever.

`data/study_v1/` was written once by `make_sample_study.py` and is never regenerated: if this
test fails, the change broke old logs. Add a new sample for a new vocabulary instead.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from test_trial_scheduler_core import _open

from raysweep.orchestrator._core._state import StudyState
from raysweep.orchestrator._storage._log import replay
from raysweep.samplers import TrialState, trial_record_from_json

SAMPLE = Path(__file__).parent / "data" / "study_v1"


def _expected() -> list[dict[str, object]]:
    return json.loads((SAMPLE / "expected_trials.json").read_text())  # type: ignore[no-any-return]


def test_the_v1_study_log_replays_to_the_same_trials() -> None:
    events, report = replay(SAMPLE)
    assert report.clean and report.snapshot is not None and report.segments
    state = StudyState.replay(events)
    assert state.info is not None and state.info.seed == 3
    # A field added since (constraints) reads as absent: null in the record's JSON.
    expected = [{**r, "constraints": r.get("constraints")} for r in _expected()]
    assert [r.to_json() for r in state.records()] == expected


def test_the_v1_study_can_be_continued(tmp_path: Path) -> None:
    copy = tmp_path / "study"
    shutil.copytree(SAMPLE, copy)
    core = _open(copy, load=True)
    expected = [trial_record_from_json(r) for r in _expected()]
    assert core.records() == expected
    assert core.record(5).state is TrialState.RUNNING  # asked, never told: still running
    core.start_optimize(6)
    assignment = core.next_trial("r1", None)
    assert assignment is not None and assignment.number == 6  # numbers are never reused
    core.close()
