"""A study's state saved beside its log, so that a reopen need not decode every event again.

The file is ``snapshots/state-<last seq>-g<generation>.arrow``: an Arrow IPC file with one row per
trial, in columns the core chose (ints, floats, strings; JSON text where a value is nested), and
the study-level part as JSON text in the schema metadata. This module knows nothing of what the
columns mean (``_core._state_table`` does); it only stores them and reads them back.

It is a cache of the log, never part of it: readers (``replay``, the CLI) and raysweep from
before it ignore the name, and a writer uses it only where it provably describes the whole log
(``_log``), replaying the events otherwise.
"""

from __future__ import annotations

import gc
import itertools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import pyarrow as pa
import pyarrow.ipc as ipc

from raysweep.orchestrator._storage._format import GENERATION_KEY, FileRef

__all__ = [
    "STATE_VERSION",
    "SavedState",
    "StateColumns",
    "StateFields",
    "StateName",
    "parse_state_name",
    "read_saved_state",
    "saved_state_table",
    "state_name",
]

# What the file's layout is; a reader refuses (and replays the log instead) any other.
STATE_VERSION = 1
_VERSION_KEY = b"raysweep.state_version"
_STUDY_KEY = b"raysweep.state_study"
_TAIL_KEY = b"raysweep.chain_tail"
_BLOB_PREFIX = b"raysweep.blob."
_SEQ_DIGITS = 20
_STATE_RE = re.compile(r"state-(\d+)(?:-g(\d+))?\.arrow")
_TYPES = {
    "int": pa.int64(),
    "float": pa.float64(),
    "str": pa.string(),
    "ints": pa.list_(pa.int64()),
    "floats": pa.list_(pa.float64()),
    "strs": pa.list_(pa.string()),
}


@dataclass(frozen=True)
class SavedState:
    """The study's state as replaying its log up to ``last_seq`` makes it, as the core wrote it.

    ``study``: JSON text (study-level facts); ``columns``: name -> one value per trial, all of
    one length; ``kinds``: name -> "int", "float" or "str" (each value of that type, or None),
    or "ints", "floats", "strs" (each value a list of those, or None).
    """

    last_seq: int
    study: str
    columns: StateColumns
    kinds: dict[str, str]
    # Opaque bytes the core keeps beside the rows (in the schema metadata).
    blobs: dict[str, bytes]


class StateFields(Protocol):
    """What :func:`saved_state_table` reads of a state to save (:class:`SavedState`'s fields)."""

    @property
    def last_seq(self) -> int: ...

    @property
    def study(self) -> str: ...

    @property
    def columns(self) -> Mapping[str, list[Any]]: ...

    @property
    def kinds(self) -> dict[str, str]: ...

    @property
    def blobs(self) -> dict[str, bytes]: ...


class StateName(NamedTuple):
    last_seq: int
    generation: int


def state_name(last_seq: int, generation: int) -> str:
    suffix = f"-g{generation}" if generation else ""
    return f"state-{last_seq:0{_SEQ_DIGITS}d}{suffix}.arrow"


def parse_state_name(name: str) -> StateName | None:
    match = _STATE_RE.fullmatch(name)
    if match is None:
        return None
    return StateName(int(match.group(1)), int(match.group(2) or 0))


def saved_state_table(
    saved: StateFields, generation: int, tail: tuple[int, int] | None
) -> pa.Table:
    """The Arrow table of the file that holds ``saved``. ``tail``: (first seq, events) of the
    snapshot that ends the chain at ``saved.last_seq``, so that the writer that reads the state
    can still fold that snapshot into its next one, as after a replay."""
    lengths = {len(values) for values in saved.columns.values()}
    if len(lengths) > 1 or set(saved.kinds) != set(saved.columns):
        raise ValueError("every column needs a kind and all columns the same length")
    fields = [pa.field(name, _TYPES[saved.kinds[name]]) for name in saved.columns]
    metadata = {
        _VERSION_KEY: str(STATE_VERSION).encode(),
        _STUDY_KEY: saved.study.encode(),
        GENERATION_KEY: str(generation).encode(),
    }
    for key, blob in saved.blobs.items():
        metadata[_BLOB_PREFIX + key.encode()] = blob
    if tail is not None:
        metadata[_TAIL_KEY] = f"{tail[0]},{tail[1]}".encode()
    schema = pa.schema(fields, metadata=metadata)
    arrays = [
        pa.array(values, type=field.type)
        for values, field in zip(saved.columns.values(), fields, strict=True)
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def _python_lists(column: pa.ChunkedArray) -> list[list[Any] | None]:
    """A list column as Python lists: its values converted in one go, then cut by offsets
    (``to_pylist`` on the list column makes each list through slow per-item scalars)."""
    out: list[list[Any] | None] = []
    for chunk in column.chunks:
        if chunk.null_count == len(chunk):  # a column the core leaves empty, mostly
            out += [None] * len(chunk)
            continue
        flat = chunk.values.to_pylist()
        offsets = chunk.offsets.to_pylist()
        lists: list[list[Any] | None] = [
            flat[start:end] for start, end in itertools.pairwise(offsets)
        ]
        if chunk.null_count:
            valid = chunk.is_valid().to_pylist()
            lists = [item if ok else None for item, ok in zip(lists, valid, strict=True)]
        out += lists
    return out


def read_saved_state(
    ref: FileRef, data: bytes, name: StateName
) -> tuple[SavedState, tuple[int, int] | None]:
    """The state a file holds and the chain's tail it names (see :func:`saved_state_table`);
    ValueError (saying why) if it is not one this raysweep wrote."""
    try:
        reader = ipc.open_file(pa.py_buffer(data))
        table = reader.read_all()
        table.validate(full=True)
    except pa.ArrowException as exc:
        raise ValueError(f"{ref} is unreadable ({exc})") from exc
    metadata = table.schema.metadata or {}
    if metadata.get(_VERSION_KEY) != str(STATE_VERSION).encode():
        raise ValueError(f"{ref} is not a state file of version {STATE_VERSION}")
    if int(metadata.get(GENERATION_KEY, b"0")) != name.generation:
        raise ValueError(f"{ref} says another writer generation than its name")
    kinds: dict[str, str] = {}
    for field in table.schema:
        kind = next((k for k, t in _TYPES.items() if field.type == t), None)
        if kind is None:
            raise ValueError(f"{ref} has a column {field.name!r} of type {field.type}")
        kinds[field.name] = kind
    tail = None
    if _TAIL_KEY in metadata:
        first, events = metadata[_TAIL_KEY].split(b",")
        tail = (int(first), int(events))
    blobs = {
        key[len(_BLOB_PREFIX) :].decode(): value
        for key, value in metadata.items()
        if key.startswith(_BLOB_PREFIX)
    }
    study = metadata[_STUDY_KEY].decode()
    return SavedState(name.last_seq, study, StateColumns(table, kinds), kinds, blobs), tail


class StateColumns(Mapping[str, list[Any]]):
    """The columns of a state file: name -> one Python value per row, converted from Arrow when
    a column is first asked for, or one cell at a time with :meth:`cell`.

    Converting every column costs most of a large reopen, and a reopen may need only a few
    (how many trials are in each state) and a few rows (the trials it touches).
    """

    def __init__(self, table: pa.Table, kinds: dict[str, str]) -> None:
        self._table = table
        self._kinds = kinds
        self._converted: dict[str, list[Any]] = {}
        # Equal strings shared (names, origins, repeated in every row): the state keeps them.
        self._shared: dict[str, str] = {}

    def __len__(self) -> int:
        return int(self._table.num_columns)

    def __iter__(self) -> Iterator[str]:
        return iter(self._table.column_names)

    def __getitem__(self, name: str) -> list[Any]:
        values = self._converted.get(name)
        if values is None:
            values = self._converted[name] = self._convert(name)
        return values

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping):
            return NotImplemented
        return dict(self.items()) == dict(other.items())

    __hash__ = None  # type: ignore[assignment]

    @property
    def rows(self) -> int:
        return int(self._table.num_rows)

    def cell(self, name: str, row: int) -> Any:
        """The value of column ``name`` in ``row``, as :meth:`__getitem__` would give it."""
        values = self._converted.get(name)
        if values is not None:
            return values[row]
        return self._table.column(name)[row].as_py()

    def _convert(self, name: str) -> list[Any]:
        enabled = gc.isenabled()
        gc.disable()  # a column of lists is 100,000 objects that all stay: nothing to collect
        try:
            return self._converted_values(name)
        finally:
            if enabled:
                gc.enable()

    def _converted_values(self, name: str) -> list[Any]:
        kind = self._kinds[name]
        column = self._table.column(name)
        values: list[Any] = _python_lists(column) if kind.endswith("s") else column.to_pylist()
        shared = self._shared
        if kind == "str":
            values = [None if v is None else shared.setdefault(v, v) for v in values]
        elif kind == "strs":
            values = [None if v is None else [shared.setdefault(s, s) for s in v] for v in values]
        return values
