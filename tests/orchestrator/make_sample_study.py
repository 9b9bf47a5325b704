"""Regenerate ``data/study_v1/``: a real study's log, checked in so that every later raysweep
must replay it to the same trials (``expected_trials.json``).

Run only when deliberately adding a sample: ``python tests/orchestrator/make_sample_study.py``.
A change of the event vocabulary adds ``study_v<N>`` beside this one; it never regenerates it.

The study (maximize, ASHA 1/9/3, RandomSampler seed 7) has: a complete trial, a pruned one, a
failed one, one interrupted (its runner lost) and re-run as attempt 1, an asked trial told
COMPLETE and an asked trial still RUNNING. It is closed once (a snapshot) and reopened for more
events, so the sample holds a snapshot and a segment after it.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from test_trial_scheduler_core import X, _open

from raysweep.orchestrator._core._protocol import ParamNote, ReportNote, TrialOutcome
from raysweep.samplers import TrialState

TARGET = Path(__file__).parent / "data" / "study_v1"


def main() -> None:
    shutil.rmtree(TARGET, ignore_errors=True)
    core = _open(TARGET)
    core.start_optimize(4)

    def run(runner: str, value: float, state: TrialState, outcome: TrialOutcome | None):  # type: ignore[no-untyped-def]
        a = core.next_trial(runner, outcome)
        assert a is not None
        if "x" in a.proposal:
            x = a.proposal["x"][1]
            notes: tuple[ParamNote | ReportNote, ...] = (ParamNote("x", X, x),)
        else:
            x, notes = core.suggest(a.number, a.attempt, "x", X, ()), ()
        notes = (*notes, ReportNote(1, value), ReportNote(3, value))
        core.report(a.number, a.attempt, notes)
        values = (value,) if state is TrialState.COMPLETE else None
        error = "ValueError: bad" if state is TrialState.FAILED else None
        return TrialOutcome(a.number, a.attempt, state, values, error)

    last = run("r1", 0.9, TrialState.COMPLETE, None)
    last = run("r1", 0.1, TrialState.PRUNED, last)
    last = run("r1", 0.5, TrialState.FAILED, last)
    assert core.next_trial("r1", last) is not None  # trial 3 starts on r1 ...
    core.runner_lost("r1", "ActorDiedError: node lost", True)  # ... and its runner dies
    asked = core.ask()
    core.suggest(asked.number, asked.attempt, "y", X, ())
    core.tell(asked.number, TrialState.COMPLETE, (0.7,), None)
    core.close()

    core = _open(TARGET, load=True)
    core.start_optimize(5)
    rerun = core.next_trial("r2", None)
    assert rerun is not None and rerun.attempt == 1
    core.report(rerun.number, 1, (ReportNote(1, 0.95),))
    assert (
        core.next_trial("r2", TrialOutcome(rerun.number, 1, TrialState.COMPLETE, (0.95,))) is None
    )
    core.ask()  # stays RUNNING
    core._closed.set()  # stop without a snapshot, so the tail stays in a segment
    core._background.join()
    core._rec.log.close()
    core._lease.release()
    (TARGET / "LEASE.json").unlink(missing_ok=True)
    (TARGET / "LEASE.lock").unlink(missing_ok=True)
    expected = [record.to_json() for record in core.records()]
    (TARGET / "expected_trials.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
