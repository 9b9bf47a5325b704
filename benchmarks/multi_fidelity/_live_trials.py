"""The objectives of the live ASHA benchmark: a learning curve replayed with sleeps, in a worker.

Imported inside Ray workers (raysweep runners, Tune trainables) by its full name: Ray puts the
driver's working directory, the repository root from which `python -m` runs the benchmark, on the
workers' path. Both objectives get the same `curves` (one list of
(accuracy, seconds to sleep) per epoch for each of the run's trials, in trial order) and stamp
each epoch with `time.time()` right after its sleep, before handing the value over, so the two
systems' epochs are ordered by the same clock, taken at the same point of the work.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from typing import Any, TypeAlias

from raysweep.orchestrator import Trial

# Per epoch 1..27: (validation accuracy after it, seconds the replay sleeps for it).
Curve: TypeAlias = Sequence[tuple[float, float]]

# The user attribute of a raysweep trial that holds epoch e's timestamp.
STAMP = "t{epoch}"


def ours_objective(trial: Trial, *, curves: Sequence[Curve]) -> float:
    """Replay curve `trial.number`, resuming after the checkpoint's epoch when there is one.

    The timestamp goes into a user attribute because the event log writes a trial's reports
    between two decision steps as one batch, at the later step: the log's `ts` says when the
    batch arrived, not when each epoch ended.
    """
    curve = curves[trial.number]
    saved = trial.checkpoint()
    first = 1 if saved is None else int(saved["epoch"]) + 1
    accuracy = float("nan")
    for epoch in range(first, len(curve) + 1):
        accuracy, seconds = curve[epoch - 1]
        time.sleep(seconds)
        trial.set_user_attr(STAMP.format(epoch=epoch), time.time())
        # Stop mode raises TrialPruned here; promote mode calls the checkpoint function and
        # raises TrialPaused when the trial pauses at a rung.
        trial.report(accuracy, epoch, checkpoint=functools.partial(_state, epoch))
    return accuracy


def _state(epoch: int) -> dict[str, int]:
    return {"epoch": epoch}


def tune_trainable(config: dict[str, Any], curves: Sequence[Curve]) -> None:
    """The same replay as a Tune function trainable: curve `config["i"]`, one report an epoch.

    ASHA stops a trial by never returning from its `tune.report`.
    """
    from ray import tune

    for accuracy, seconds in curves[int(config["i"])]:
        time.sleep(seconds)
        tune.report({"acc": accuracy, "t": time.time()})
