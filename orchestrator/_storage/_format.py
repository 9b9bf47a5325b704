"""How events are laid out in Arrow and in the study directory.

Version history of the on-disk format (``raysweep.schema_version`` in the schema metadata):

1. columns ``seq`` int64, ``ts`` float64, ``kind`` utf8, ``trial`` int64 (nullable),
   ``payload`` utf8 holding a JSON object. Kinds and payload keys: the vocabulary of
   ``orchestrator/_core/_events.py`` (its docstring has the table, as does ARCHITECTURE.md).

The version numbers the layout here and the vocabulary together. A reader accepts every
version up to :data:`SCHEMA_VERSION` and refuses a newer one (:func:`check_schema`: "upgrade
raysweep"), never guessing. Within a version a payload may only gain optional keys, which older
readers ignore; any other change is a new version, whose reader converts older logs (payload
defaults in ``_events``, column changes in :func:`records_from_batch`) so they keep replaying.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import NamedTuple

import pyarrow as pa

from raysweep.orchestrator._errors import CorruptLogError
from raysweep.orchestrator._storage._event import Event, decode_payload

__all__ = [
    "SCHEMA",
    "SCHEMA_VERSION",
    "Record",
    "batch_from_records",
    "check_schema",
    "parse_segment_name",
    "parse_snapshot_name",
    "record_to_event",
    "records_from_batch",
    "segment_name",
    "snapshot_name",
]

SCHEMA_VERSION = 1
VERSION_KEY = b"raysweep.schema_version"

SCHEMA = pa.schema(
    [
        pa.field("seq", pa.int64(), nullable=False),
        pa.field("ts", pa.float64(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("trial", pa.int64(), nullable=True),
        pa.field("payload", pa.string(), nullable=False),
    ],
    metadata={VERSION_KEY: str(SCHEMA_VERSION).encode()},
)

# Wide enough for any int64, so names sort the same as numbers in a directory listing.
_SEQ_DIGITS = 20
_SEGMENT_RE = re.compile(r"seg-(\d+)(?:-(\d+))?\.arrows")
_SNAPSHOT_RE = re.compile(r"snap-(\d+)\.arrow")


class Record(NamedTuple):
    """An event with its payload still as the JSON text that is written to disk."""

    seq: int
    ts: float
    kind: str
    trial: int | None
    payload: str


def record_to_event(record: Record) -> Event:
    return Event(record.seq, record.ts, record.kind, record.trial, decode_payload(record.payload))


def batch_from_records(records: list[Record]) -> pa.RecordBatch:
    arrays = [pa.array([r[i] for r in records], type=f.type) for i, f in enumerate(SCHEMA)]
    return pa.RecordBatch.from_arrays(arrays, schema=SCHEMA)


def records_from_batch(batch: pa.RecordBatch) -> list[Record]:
    """Decode a batch already accepted by :func:`check_schema`."""
    seqs = batch.column("seq").to_pylist()
    stamps = batch.column("ts").to_pylist()
    kinds = batch.column("kind").to_pylist()
    trials = batch.column("trial").to_pylist()
    payloads = batch.column("payload").to_pylist()
    if any(s is None for s in seqs) or any(t is None or not math.isfinite(t) for t in stamps):
        raise ValueError("null seq or bad timestamp")
    if any(not k for k in kinds) or any(p is None for p in payloads):
        raise ValueError("empty kind or null payload")
    return [Record(*row) for row in zip(seqs, stamps, kinds, trials, payloads, strict=True)]


def _is_text(type_: pa.DataType) -> bool:
    if pa.types.is_dictionary(type_):
        type_ = type_.value_type
    return bool(pa.types.is_string(type_) or pa.types.is_large_string(type_))


def check_schema(schema: pa.Schema, source: Path) -> int:
    """Return the schema version of a segment or snapshot, or raise CorruptLogError."""
    raw = (schema.metadata or {}).get(VERSION_KEY)
    try:
        version = int(raw) if raw is not None else 0
    except ValueError:
        version = 0
    if version < 1:
        raise CorruptLogError(
            f"{source} is not a raysweep event log file (no valid {VERSION_KEY.decode()} in its "
            "schema metadata); move it out of the study directory"
        )
    if version > SCHEMA_VERSION:
        raise CorruptLogError(
            f"{source} was written by a newer raysweep (log schema version {version}; this one "
            f"reads up to {SCHEMA_VERSION}); upgrade raysweep to replay this study"
        )
    expected = {
        "seq": pa.types.is_int64,
        "ts": pa.types.is_float64,
        "kind": _is_text,
        "trial": pa.types.is_int64,
        "payload": _is_text,
    }
    for name, type_ok in expected.items():
        index = schema.get_field_index(name)
        if index < 0 or not type_ok(schema.field(index).type):
            raise CorruptLogError(
                f"{source} claims log schema version {version} but its column {name!r} is "
                f"missing or of the wrong type ({schema}); move it out of the study directory"
            )
    return version


def segment_name(first_seq: int, attempt: int = 0) -> str:
    # The suffix only appears when a file of the plain name already exists (a crash left an
    # empty segment there): we never reuse or overwrite a file that may hold someone's data.
    suffix = f"-{attempt}" if attempt else ""
    return f"seg-{first_seq:0{_SEQ_DIGITS}d}{suffix}.arrows"


def parse_segment_name(name: str) -> tuple[int, int] | None:
    """(first seq, attempt) of a segment file name, or None if it is not one."""
    match = _SEGMENT_RE.fullmatch(name)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2) or 0)


def snapshot_name(last_seq: int) -> str:
    return f"snap-{last_seq:0{_SEQ_DIGITS}d}.arrow"


def parse_snapshot_name(name: str) -> int | None:
    match = _SNAPSHOT_RE.fullmatch(name)
    return int(match.group(1)) if match else None
