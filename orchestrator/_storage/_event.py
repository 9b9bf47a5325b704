"""One stored event, and the JSON text its payload is written as.

No pyarrow here: this is the value the log hands to ``_core`` (which must not import Arrow),
and the checks every event passes before it is buffered. The Arrow layout is ``_format``.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

__all__ = ["Event", "check_event_fields", "decode_payload", "decode_payloads", "encode_payload"]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class Event(NamedTuple):
    """One fact of a study, as it is stored in and replayed from the log.

    ``seq`` numbers events from 0 without gaps; ``ts`` is unix seconds when it was staged;
    ``trial`` is the trial number the event concerns, if any; ``payload`` holds JSON values only.
    A named tuple, not a frozen dataclass: a replay makes one per event of the study, and this
    is less than half the cost.
    """

    seq: int
    ts: float
    kind: str
    trial: int | None
    payload: dict[str, Any]


def encode_payload(payload: dict[str, Any]) -> str:
    """Return the JSON text stored for ``payload``; ValueError if it cannot be stored exactly."""
    if not isinstance(payload, dict):
        raise TypeError(f"an event payload must be a dict, not {type(payload).__name__}")
    try:
        text = json.dumps(payload, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
        # A lone surrogate passes json.dumps but cannot become UTF-8 when the batch is built,
        # which would fail the whole commit instead of this one event.
        text.encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"event payload cannot be stored as JSON ({exc}); use only dict/list/str/int/"
            "float/bool/None, with finite floats and valid Unicode strings"
        ) from exc
    return text


def check_event_fields(kind: str, trial: int | None) -> None:
    if not isinstance(kind, str) or not kind:
        raise TypeError(f"an event kind must be a non-empty str, got {kind!r}")
    if trial is not None and (
        not isinstance(trial, int)
        or isinstance(trial, bool)
        or not _INT64_MIN <= trial <= _INT64_MAX
    ):
        raise TypeError(f"an event's trial must be an int64 or None, got {trial!r}")


def decode_payload(text: str) -> dict[str, Any]:
    payload = json.loads(text)
    if not isinstance(payload, dict):
        raise ValueError("an event payload is not a JSON object")
    return payload


def decode_payloads(texts: list[str]) -> list[dict[str, Any]]:
    """:func:`decode_payload` of each text; ValueError naming the first that is not a JSON
    object. One parse of all of them joined (a third of the time of one parse each): only if
    that fails, or does not give one object per text, are they parsed one by one, which finds
    the bad one (a text holding two objects, say)."""
    try:
        payloads = json.loads("[" + ",".join(texts) + "]")
    except ValueError:
        payloads = None
    if (
        not isinstance(payloads, list)
        or len(payloads) != len(texts)
        or not all(type(p) is dict for p in payloads)
    ):
        return [decode_payload(text) for text in texts]
    return payloads
