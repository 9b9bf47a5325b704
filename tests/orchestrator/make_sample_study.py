"""Write ``data/study_v<N>/``: a real study's log, checked in so that every later raysweep must
replay it to the same trials (``expected_trials.json``).

Run only when deliberately adding a sample: ``python tests/orchestrator/make_sample_study.py N``
for the log format version N (``_storage/_format.py``); it refuses to overwrite a sample. A new
version adds ``study_v<N>`` beside the older ones; it never regenerates them.

The study (maximize, ASHA 1/9/3, RandomSampler seed 7) has: a complete trial, a pruned one, a
failed one, one interrupted (its runner lost) and re-run as attempt 1, an asked trial told
COMPLETE and an asked trial still RUNNING. Version 1: it is closed once (a snapshot) and
reopened for more events, so the sample holds a snapshot and a segment after it. Version 2: it
is closed twice without folding the first snapshot into the second, so the sample holds a chain
of two snapshots (the second says version 2) and a segment after them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from test_trial_scheduler_core import X, _open

from raysweep.orchestrator._core._protocol import ParamNote, ReportNote, TrialOutcome
from raysweep.orchestrator._storage import _log
from raysweep.samplers import TrialState

DATA = Path(__file__).parent / "data"


def main(version: int) -> None:
    target = DATA / f"study_v{version}"
    if target.exists():
        raise SystemExit(f"{target} exists: a sample is written once, never regenerated")
    if version >= 2:
        # Every snapshot a link of its own, however small.
        _log.DEFAULT_MERGE_BELOW = 0
        _log.EventLog.open.__kwdefaults__["merge_below"] = 0
    core = _open(target)
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
    if version >= 2:
        core = _open(target, load=True)  # a session that wants no more trials: one more link
        core.start_optimize(4)
        core.stop_new_trials()
        core.close()

    core = _open(target, load=True)
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
    (target / "LEASE.json").unlink(missing_ok=True)
    (target / "LEASE.lock").unlink(missing_ok=True)
    expected = [record.to_json() for record in core.records()]
    (target / "expected_trials.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main(int(sys.argv[1]))
