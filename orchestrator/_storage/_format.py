"""How events are laid out in Arrow and in the study directory.

Version history of the on-disk format (``raysweep.schema_version`` in the schema metadata):

1. columns ``seq`` int64, ``ts`` float64, ``kind`` utf8, ``trial`` int64 (nullable),
   ``payload`` utf8 holding a JSON object. Kinds and payload keys: the vocabulary of
   ``orchestrator/_core/_events.py`` (its docstring has the table, as does ARCHITECTURE.md).
   Later within version 1, files gained the *writer generation* (the epoch of the lease their
   writer held): in the name (``seg-<first seq>-g<generation>[-<attempt>].arrows``,
   ``snap-<last seq>-g<generation>.arrow``) and as ``raysweep.writer_generation`` in the
   schema metadata. A file without it is generation 0, as every file before it was, so older
   logs replay as they did. raysweep from before generations does not see files named with one
   (it skips names it does not know): do not go back to it once a newer one wrote a study.
2. Snapshots form a chain (``_log``): a snapshot may hold only the events after the previous
   one, up to the seq in its name. Such a snapshot says version 2; everything else keeps the
   layout and the vocabulary of version 1 and says 1 (segments, a snapshot from seq 0), so a
   log without a chained snapshot is still read by raysweep of version 1, while one with a
   chained snapshot is refused by it ("upgrade raysweep") instead of being taken for a log
   whose first events were lost (a version-1 writer would then start the study over and delete
   the chain). A version-1 snapshot is the chain's first link.

The version numbers the layout here and the vocabulary together. A reader accepts every
version up to :data:`SCHEMA_VERSION` and refuses a newer one (:func:`check_schema`: "upgrade
raysweep"), never guessing. Within a version a payload may only gain optional keys, which older
readers ignore; any other change is a new version, whose reader converts older logs (payload
defaults in ``_events``, column changes in :func:`columns_from_batch`) so they keep replaying.
"""

from __future__ import annotations

import array
import itertools
import math
import re
import sys
from pathlib import Path
from typing import NamedTuple, TypeAlias

import pyarrow as pa

from raysweep.orchestrator._errors import CorruptLogError
from raysweep.orchestrator._storage._event import Event, decode_payload, decode_payloads

__all__ = [
    "CHAINED_SNAPSHOT_VERSION",
    "LEASE_FILE",
    "SCHEMA",
    "SCHEMA_VERSION",
    "SEGMENTS",
    "SNAPSHOTS",
    "FileRef",
    "Record",
    "SegmentName",
    "SnapshotName",
    "batch_from_records",
    "check_generation",
    "check_schema",
    "columns_from_batch",
    "events_from_batch",
    "file_name",
    "parse_segment_name",
    "parse_snapshot_name",
    "record_to_event",
    "records_from_batch",
    "segment_name",
    "snapshot_name",
    "stamped_schema",
]

# The study's folders (prefixes, on an object store) and the writer lease's file.
SEGMENTS = "segments"
SNAPSHOTS = "snapshots"
LEASE_FILE = "LEASE.json"
# The newest version this raysweep reads (and writes, on chained snapshots).
SCHEMA_VERSION = 2
# What a file says when version 1 describes it fully: its readers can read it.
_BASE_VERSION = 1
CHAINED_SNAPSHOT_VERSION = 2
VERSION_KEY = b"raysweep.schema_version"
GENERATION_KEY = b"raysweep.writer_generation"

SCHEMA = pa.schema(
    [
        pa.field("seq", pa.int64(), nullable=False),
        pa.field("ts", pa.float64(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("trial", pa.int64(), nullable=True),
        pa.field("payload", pa.string(), nullable=False),
    ],
    metadata={VERSION_KEY: str(_BASE_VERSION).encode()},
)

# Wide enough for any int64, so names sort the same as numbers in a directory listing.
_SEQ_DIGITS = 20
_SEGMENT_RE = re.compile(r"seg-(\d+)(?:-g(\d+))?(?:-(\d+))?\.arrows")
_SNAPSHOT_RE = re.compile(r"snap-(\d+)(?:-g(\d+))?\.arrow")


# A file of the log: a local path, or an object's URI (``s3://bucket/prefix/segments/...``).
FileRef: TypeAlias = Path | str


def file_name(ref: FileRef) -> str:
    """The file's name within its folder (its key's last part, on an object store)."""
    return ref.name if isinstance(ref, Path) else ref.rsplit("/", 1)[-1]


class Record(NamedTuple):
    """An event with its payload still as the JSON text that is written to disk."""

    seq: int
    ts: float
    kind: str
    trial: int | None
    payload: str


class SegmentName(NamedTuple):
    first_seq: int
    generation: int
    attempt: int


class SnapshotName(NamedTuple):
    last_seq: int
    generation: int


def record_to_event(record: Record) -> Event:
    return Event(record.seq, record.ts, record.kind, record.trial, decode_payload(record.payload))


def batch_from_records(records: list[Record]) -> pa.RecordBatch:
    """The records as one batch of :data:`SCHEMA`.

    Built from buffers rather than with ``pa.array`` on Python lists: that would import pandas
    when it is installed (0.2-0.5 s, in the first commit of every process), and is slower.
    """
    if sys.byteorder != "little":  # Arrow's buffers are little-endian
        arrays = [pa.array([r[i] for r in records], type=f.type) for i, f in enumerate(SCHEMA)]
        return pa.RecordBatch.from_arrays(arrays, schema=SCHEMA)
    count = len(records)
    seqs = array.array("q", [r.seq for r in records])
    stamps = array.array("d", [r.ts for r in records])
    trials = [r.trial for r in records]
    valid: pa.Buffer | None = None
    if None in trials:
        bits = bytearray((count + 7) // 8)
        for index, trial in enumerate(trials):
            if trial is not None:
                bits[index >> 3] |= 1 << (index & 7)
        valid = pa.py_buffer(bits)
    numbers = array.array("q", [0 if t is None else t for t in trials])
    columns = [
        pa.Array.from_buffers(pa.int64(), count, [None, pa.py_buffer(seqs)]),
        pa.Array.from_buffers(pa.float64(), count, [None, pa.py_buffer(stamps)]),
        _strings([r.kind for r in records]),
        pa.Array.from_buffers(pa.int64(), count, [valid, pa.py_buffer(numbers)]),
        _strings([r.payload for r in records]),
    ]
    return pa.RecordBatch.from_arrays(columns, schema=SCHEMA)


def _strings(texts: list[str]) -> pa.Array:
    encoded = [text.encode("utf-8") for text in texts]
    offsets = array.array("i", [0])
    offsets.extend(itertools.accumulate(map(len, encoded)))
    if offsets[-1] >= 2**31:
        raise ValueError("more than 2 GiB of text in one batch: commit or snapshot less at once")
    data = pa.py_buffer(b"".join(encoded))
    return pa.Array.from_buffers(pa.string(), len(texts), [None, pa.py_buffer(offsets), data])


def columns_from_batch(
    batch: pa.RecordBatch,
) -> tuple[list[int], list[float], list[str], list[int | None], list[str]]:
    """The five columns of a batch already accepted by :func:`check_schema`, as Python lists
    (where a later version's columns would be converted to these)."""
    seqs = batch.column("seq").to_pylist()
    stamps = batch.column("ts").to_pylist()
    kinds = batch.column("kind").to_pylist()
    trials = batch.column("trial").to_pylist()
    payloads = batch.column("payload").to_pylist()
    if None in seqs or any(t is None or not math.isfinite(t) for t in stamps):
        raise ValueError("null seq or bad timestamp")
    if not all(kinds) or None in payloads:
        raise ValueError("empty kind or null payload")
    return seqs, stamps, kinds, trials, payloads


def records_from_batch(batch: pa.RecordBatch) -> list[Record]:
    """Decode a batch already accepted by :func:`check_schema`."""
    return [Record(*row) for row in zip(*columns_from_batch(batch), strict=True)]


def events_from_batch(batch: pa.RecordBatch) -> tuple[list[int], list[Event], list[str]]:
    """The seqs and events of a batch already accepted by :func:`check_schema`, and their
    payloads as stored (the JSON text a snapshot writes again). ValueError if a payload is not
    a JSON object."""
    seqs, stamps, kinds, trials, texts = columns_from_batch(batch)
    payloads = decode_payloads(texts)
    return seqs, list(map(Event, seqs, stamps, kinds, trials, payloads)), texts


def _is_text(type_: pa.DataType) -> bool:
    if pa.types.is_dictionary(type_):
        type_ = type_.value_type
    return bool(pa.types.is_string(type_) or pa.types.is_large_string(type_))


def check_schema(schema: pa.Schema, source: FileRef) -> int:
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


def stamped_schema(generation: int, version: int = _BASE_VERSION) -> pa.Schema:
    """:data:`SCHEMA` with the writer generation in its metadata (none for generation 0), saying
    `version` (:data:`CHAINED_SNAPSHOT_VERSION` for a snapshot that does not start at seq 0)."""
    metadata = dict(SCHEMA.metadata or {})
    metadata[VERSION_KEY] = str(version).encode()
    if generation:
        metadata[GENERATION_KEY] = str(generation).encode()
    return SCHEMA.with_metadata(metadata)


def check_generation(schema: pa.Schema, source: FileRef, named: int) -> None:
    """Raise CorruptLogError unless the schema's writer generation is the one in the name."""
    raw = (schema.metadata or {}).get(GENERATION_KEY)
    try:
        stamped = int(raw) if raw is not None else 0
    except ValueError:
        stamped = -1
    if stamped != named:
        found = raw.decode(errors="replace") if raw is not None else "none, so 0"
        raise CorruptLogError(
            f"{source} is named as written by writer generation {named} but its schema metadata "
            f"says {found}; it was renamed by hand: give it back its name, or move it out of "
            "the study directory"
        )


def _generation_suffix(generation: int) -> str:
    # Generation 0 (a log written without a lease, or before generations) keeps the old name.
    return f"-g{generation}" if generation else ""


def segment_name(first_seq: int, generation: int = 0, attempt: int = 0) -> str:
    # The attempt suffix only appears when a file of the name already exists (a crash left an
    # empty segment there): we never reuse or overwrite a file that may hold someone's data.
    suffix = f"-{attempt}" if attempt else ""
    return f"seg-{first_seq:0{_SEQ_DIGITS}d}{_generation_suffix(generation)}{suffix}.arrows"


def parse_segment_name(name: str) -> SegmentName | None:
    """First seq, writer generation and attempt of a segment file name; None if not one."""
    match = _SEGMENT_RE.fullmatch(name)
    if match is None:
        return None
    return SegmentName(int(match.group(1)), int(match.group(2) or 0), int(match.group(3) or 0))


def snapshot_name(last_seq: int, generation: int = 0) -> str:
    return f"snap-{last_seq:0{_SEQ_DIGITS}d}{_generation_suffix(generation)}.arrow"


def parse_snapshot_name(name: str) -> SnapshotName | None:
    """Last seq and writer generation of a snapshot file name; None if not one."""
    match = _SNAPSHOT_RE.fullmatch(name)
    if match is None:
        return None
    return SnapshotName(int(match.group(1)), int(match.group(2) or 0))
