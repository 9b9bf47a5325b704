"""The event vocabulary of a study log and the JSON encoding of its values.

Every fact about a study is one event. Payloads are JSON objects; non-finite floats, which JSON
cannot carry, are written as the strings ``"nan"``, ``"inf"`` and ``"-inf"``.
"""

from __future__ import annotations

import math
from typing import Any, Final

STUDY_CREATED: Final = "study_created"
WRITER_STARTED: Final = "writer_started"
TRIAL_CREATED: Final = "trial_created"
TRIAL_STARTED: Final = "trial_started"
PARAM: Final = "param"
REPORT: Final = "report"
DECISION: Final = "decision"
USER_ATTR: Final = "user_attr"
TRIAL_FINISHED: Final = "trial_finished"
TRIAL_INTERRUPTED: Final = "trial_interrupted"
# Promote mode: a trial that reached a rung stops and frees its runner (its checkpoint, if it
# gave one, is saved beside the log); it is resumed when the scheduler promotes it.
TRIAL_PAUSED: Final = "trial_paused"
TRIAL_RESUMED: Final = "trial_resumed"
OPTIMIZE_STARTED: Final = "optimize_started"
OPTIMIZE_STOPPED: Final = "optimize_stopped"

ORIGIN_OPTIMIZE: Final = "optimize"
ORIGIN_ASK: Final = "ask"

_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def encode_float(value: float) -> float | str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def decode_float(value: float | int | str) -> float:
    if isinstance(value, str):
        return _NON_FINITE[value]
    return float(value)


def encode_values(values: tuple[float, ...] | None) -> list[float | str] | None:
    return None if values is None else [encode_float(v) for v in values]


def decode_values(values: list[Any] | None) -> tuple[float, ...] | None:
    return None if values is None else tuple(decode_float(v) for v in values)
