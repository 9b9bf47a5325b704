"""Study logs written by raysweep 0.1 (schema 1) and by the snapshot chain (schema 2) replay to
the same trials, forever.

`data/study_v<N>/` was written once by `make_sample_study.py N` and is never regenerated: if
this test fails, the change broke old logs. Add a new sample for a new version instead.
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


SAMPLE_V2 = Path(__file__).parent / "data" / "study_v2"


def test_the_v2_study_log_replays_its_chain_to_the_same_trials() -> None:
    events, report = replay(SAMPLE_V2)
    assert report.clean and len(report.snapshots) == 2 and report.segments
    state = StudyState.replay(events)
    expected = json.loads((SAMPLE_V2 / "expected_trials.json").read_text())
    assert [r.to_json() for r in state.records()] == expected

    # The same study as the v1 sample, written in another layout: the same trials (at other
    # times).
    def timeless(record: dict[str, object]) -> dict[str, object]:
        times = ("datetime_start", "datetime_complete")
        return {k: v for k, v in record.items() if k not in times} | {
            "constraints": record.get("constraints")
        }

    assert [timeless(r.to_json()) for r in state.records()] == [timeless(r) for r in _expected()]


def test_the_v2_study_can_be_continued(tmp_path: Path) -> None:
    copy = tmp_path / "study"
    shutil.copytree(SAMPLE_V2, copy)
    core = _open(copy, load=True)
    before = core.records()
    core.start_optimize(6)
    assignment = core.next_trial("r1", None)
    assert assignment is not None and assignment.number == 6
    core.close()
    again = _open(copy, load=True)
    assert again.records()[: len(before)] == before
    again.close()
