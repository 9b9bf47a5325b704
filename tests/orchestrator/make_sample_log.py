"""Regenerate ``data/log_format_v1/``, the checked-in log that every later raysweep must replay.

Run only when deliberately replacing the sample (say, with the final event vocabulary):
``python tests/orchestrator/make_sample_log.py``. The old sample is the point of the test, so a
format change must add a new ``sample_log_v<N>`` beside it, never regenerate this one.

It holds a snapshot (events 0-4) and a segment after it (events 5-8), so both file kinds are
covered.
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path
from typing import Any

from raysweep.orchestrator._storage._log import EventLog

TARGET = Path(__file__).parent / "data" / "log_format_v1"
START = 1_767_225_600.0  # 2026-01-01T00:00:00Z

EVENTS: list[tuple[str, int | None, dict[str, Any]]] = [
    ("study_created", None, {"name": "sample", "directions": ["minimize"], "seed": 7}),
    ("trial_created", 0, {"number": 0, "state": "RUNNING"}),
    ("params", 0, {"lr": 0.01, "layers": 3, "optimizer": "adam", "note": "β₁ = 0.9"}),
    ("report", 0, {"step": 1, "value": 0.75}),
    ("trial_finished", 0, {"state": "COMPLETE", "values": [0.5], "user_attrs": {}}),
    ("trial_created", 1, {"number": 1, "state": "RUNNING"}),
    ("params", 1, {"lr": 0.1, "layers": 1, "optimizer": "sgd", "note": None}),
    ("report", 1, {"step": 1, "value": 2.5}),
    ("trial_finished", 1, {"state": "PRUNED", "values": None, "reason": {"rung": 0}}),
]


def main() -> None:
    shutil.rmtree(TARGET, ignore_errors=True)
    ticks = itertools.count()
    log, _, _ = EventLog.open(TARGET, create=True, clock=lambda: START + next(ticks))
    with log:
        for kind, trial, payload in EVENTS[:5]:
            log.append(kind, trial, payload)
        log.snapshot()
        for kind, trial, payload in EVENTS[5:]:
            log.stage(kind, trial, payload)
        log.commit()


if __name__ == "__main__":
    main()
