"""A study's state saved beside its log, so that a reopen need not decode every event again.

The file is ``snapshots/state-<last seq>-g<generation>.arrow``: an Arrow IPC file with one row per
trial, in columns the core chose (ints, floats, strings; JSON text where a value is nested), and
the study-level part as JSON text in the schema metadata. This module knows nothing of what the
columns mean (``_core._state_table`` does); it only stores them and reads them back.

A file is *whole* (every trial), or *laid on* an earlier one, its *base*, which its metadata
names: then it holds only the rows that replace or add to the base's (by the key column, the
trial number), bytes that continue the base's (``appended``), the study-level part, which
replaces the base's, and bytes that replace the base's of the same name. A whole file and the
files laid on it, one on the other, make a *chain*; reading the newest link reads them all and
lays them together (:func:`lay`), which is Arrow's work (a concatenation and a take), not
Python's.

It is a cache of the log, never part of it: readers (``replay``, the CLI) and raysweep from
before it ignore the name, and a writer uses it only where it provably describes the whole log
(``_log``), replaying the events otherwise.
"""

from __future__ import annotations

import dataclasses
import gc
import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from raysweep.orchestrator._storage._format import GENERATION_KEY, FileRef

__all__ = [
    "STATE_VERSION",
    "SavedState",
    "StateColumns",
    "StateFields",
    "StateFile",
    "StateLink",
    "StateName",
    "lay",
    "parse_state_name",
    "read_state_link",
    "saved_state_table",
    "state_link",
    "state_name",
    "write_state_file",
]

# What the file's layout is; a reader refuses (and replays the log instead) any other.
STATE_VERSION = 2
_VERSION_KEY = b"raysweep.state_version"
_STUDY_KEY = b"raysweep.state_study"
_TAIL_KEY = b"raysweep.chain_tail"
_BASE_KEY = b"raysweep.state_base"
_KEY_KEY = b"raysweep.state_key"
_BLOB_PREFIX = b"raysweep.blob."
_APPENDED_PREFIX = b"raysweep.appended."
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
    # Opaque bytes the core keeps beside the rows (in the first batch's metadata): the newest
    # link's of each name, and the appended ones of every link, in chain order.
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

    @property
    def appended(self) -> dict[str, bytes]:
        """Bytes that continue the base's (the whole of them, where there is no base)."""
        ...

    @property
    def base_seq(self) -> int | None:
        """The seq of the state this one is laid on; None: it holds every row."""
        ...

    @property
    def key(self) -> str:
        """The int column whose value names a row (one row per value in each link)."""
        ...


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


class StateFile(NamedTuple):
    """What a state file holds: the rows, with the small metadata in the schema, and the bytes
    beside them, which go in the first record batch's own metadata (an IPC file writes its
    schema twice, at its head and in its footer, and the bytes are most of a large state)."""

    table: pa.Table
    batch_metadata: dict[bytes, bytes]


def _metadata(
    *,
    study: str,
    generation: int,
    key: str,
    base: StateName | None,
    blobs: Mapping[str, bytes],
    appended: Mapping[str, bytes],
    tail: tuple[int, int] | None,
) -> tuple[dict[bytes, bytes], dict[bytes, bytes]]:
    """The schema's metadata and the first batch's."""
    if set(blobs) & set(appended):
        raise ValueError("a blob cannot both replace and continue the base's")
    metadata = {
        _VERSION_KEY: str(STATE_VERSION).encode(),
        _STUDY_KEY: study.encode(),
        GENERATION_KEY: str(generation).encode(),
        _KEY_KEY: key.encode(),
    }
    if base is not None:
        metadata[_BASE_KEY] = f"{base.last_seq},{base.generation}".encode()
    if tail is not None:
        metadata[_TAIL_KEY] = f"{tail[0]},{tail[1]}".encode()
    beside = {_BLOB_PREFIX + name.encode(): blob for name, blob in blobs.items()}
    beside |= {_APPENDED_PREFIX + name.encode(): blob for name, blob in appended.items()}
    return metadata, beside


def saved_state_table(
    saved: StateFields,
    generation: int,
    tail: tuple[int, int] | None,
    base: StateName | None = None,
) -> StateFile:
    """What the file that holds ``saved`` holds, laid on the file ``base`` (None: it is
    whole; ``saved.base_seq`` must be that file's seq). ``tail``: (first seq, events) of the
    snapshot that ends the chain at ``saved.last_seq``, so that the writer that reads the state
    can still fold that snapshot into its next one, as after a replay."""
    lengths = {len(values) for values in saved.columns.values()}
    if len(lengths) > 1 or set(saved.kinds) != set(saved.columns):
        raise ValueError("every column needs a kind and all columns the same length")
    if saved.kinds.get(saved.key) != "int":
        raise ValueError(f"the key column {saved.key!r} must be a column of ints")
    if (None if base is None else base.last_seq) != saved.base_seq:
        raise ValueError(f"the state is laid on seq {saved.base_seq}, not on {base}")
    fields = [pa.field(name, _TYPES[saved.kinds[name]]) for name in saved.columns]
    metadata, beside = _metadata(
        study=saved.study,
        generation=generation,
        key=saved.key,
        base=base,
        blobs=saved.blobs,
        appended=saved.appended,
        tail=tail,
    )
    schema = pa.schema(fields, metadata=metadata)
    arrays = [
        pa.array(values, type=field.type)
        for values, field in zip(saved.columns.values(), fields, strict=True)
    ]
    return StateFile(pa.Table.from_arrays(arrays, schema=schema), beside)


@dataclass(frozen=True)
class StateLink:
    """One state file as read (or about to be written), or a chain laid into one (:func:`lay`)."""

    ref: FileRef
    name: StateName
    table: pa.Table  # the rows; its schema's metadata is not read again
    kinds: dict[str, str]
    study: str
    key: str
    base: StateName | None
    blobs: dict[str, bytes]
    appended: dict[str, bytes]
    tail: tuple[int, int] | None

    def whole_file(self, generation: int) -> StateFile:
        """This link, which must be whole, as a file of writer `generation`."""
        if self.base is not None:
            raise ValueError(f"{self.ref} is laid on {self.base}: lay its chain first")
        metadata, beside = _metadata(
            study=self.study,
            generation=generation,
            key=self.key,
            base=None,
            blobs=self.blobs,
            appended=self.appended,
            tail=self.tail,
        )
        return StateFile(self.table.replace_schema_metadata(metadata), beside)

    def saved_state(self) -> SavedState:
        """What the core reads back of this link, which must be whole."""
        if self.base is not None:
            raise ValueError(f"{self.ref} is laid on {self.base}: lay its chain first")
        return SavedState(
            self.name.last_seq,
            self.study,
            StateColumns(self.table, self.kinds),
            self.kinds,
            {**self.blobs, **self.appended},
        )


def _pair(text: bytes) -> tuple[int, int]:
    first, second = text.split(b",")
    return int(first), int(second)


def state_link(ref: FileRef, file: StateFile, name: StateName) -> StateLink:
    """The link a state file (as :func:`saved_state_table` made it) is; ValueError (saying
    why) if it is not one this raysweep wrote."""
    table = file.table
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
    key = metadata.get(_KEY_KEY, b"").decode()
    if kinds.get(key) != "int":
        raise ValueError(f"{ref} names no column of ints as its key")
    try:
        tail = _pair(metadata[_TAIL_KEY]) if _TAIL_KEY in metadata else None
        base = StateName(*_pair(metadata[_BASE_KEY])) if _BASE_KEY in metadata else None
    except ValueError as exc:
        raise ValueError(f"{ref} has unreadable metadata ({exc})") from exc
    if base is not None and base.last_seq >= name.last_seq:
        raise ValueError(f"{ref} is laid on a later state ({base})")

    def prefixed(prefix: bytes) -> dict[str, bytes]:
        return {
            key[len(prefix) :].decode(): value
            for key, value in file.batch_metadata.items()
            if key.startswith(prefix)
        }

    return StateLink(
        ref,
        name,
        table,
        kinds,
        metadata[_STUDY_KEY].decode(),
        key,
        base,
        prefixed(_BLOB_PREFIX),
        prefixed(_APPENDED_PREFIX),
        tail,
    )


def read_state_link(ref: FileRef, data: bytes, name: StateName) -> StateLink:
    """The link a state file's bytes hold; ValueError (saying why) if it is not one this
    raysweep wrote, or is unreadable."""
    try:
        reader = ipc.open_file(pa.py_buffer(data))
        table = reader.read_all()
        table.validate(full=True)
        beside: Mapping[bytes, bytes] = {}
        if reader.num_record_batches:
            beside = reader.get_batch_with_custom_metadata(0).custom_metadata or {}
    except pa.ArrowException as exc:
        raise ValueError(f"{ref} is unreadable ({exc})") from exc
    return state_link(ref, StateFile(table, dict(beside)), name)


def write_state_file(sink: Any, file: StateFile) -> None:
    """Write `file` as an Arrow IPC file to `sink` (a file or a buffer)."""
    table = file.table.combine_chunks()
    batches = table.to_batches() or [
        pa.record_batch(
            [pa.array([], type=field.type) for field in table.schema], schema=table.schema
        )
    ]
    with ipc.new_file(sink, table.schema) as writer:
        writer.write_batch(batches[0], custom_metadata=file.batch_metadata)
        for batch in batches[1:]:
            writer.write_batch(batch)


def lay(links: Sequence[StateLink]) -> StateLink:
    """The chain ``links`` (a whole link first, each next one laid on the one before it) as one
    whole link, named as the last: a row of a later link replaces the row of the same key
    before it, rows come in key order, appended bytes are joined in chain order, other bytes
    are the last link's that has them, and the rest is the last link's. ValueError if they are
    not such a chain."""
    if not links or links[0].base is not None:
        raise ValueError("a chain of states begins with a whole one")
    first, newest = links[0], links[-1]
    for before, link in itertools.pairwise(links):
        if link.base != before.name:
            raise ValueError(f"{link.ref} is laid on {link.base}, not on {before.ref}")
        if link.kinds != first.kinds or link.key != first.key:
            raise ValueError(f"{link.ref} has other columns than {first.ref}")
        if set(link.appended) != set(first.appended):
            raise ValueError(f"{link.ref} continues other bytes than {first.ref}")
    if len(links) == 1:
        return first
    table = pa.concat_tables([link.table.replace_schema_metadata(None) for link in links])
    keys = table.column(first.key)
    if keys.null_count:
        raise ValueError(f"a link of {newest.ref}'s chain has rows without a key")
    # Through the buffers: Arrow's own numpy conversions import pandas, half a second of a
    # reopen.
    flat = keys.combine_chunks()
    values = np.frombuffer(flat.buffers()[1], np.int64, len(flat), flat.offset * 8)
    # The last row of each key: the first of it in the reversed order (np.unique sorts).
    _, first_in_reversed = np.unique(values[::-1], return_index=True)
    rows = (len(values) - 1 - first_in_reversed).astype(np.int64)
    table = table.take(pa.Array.from_buffers(pa.int64(), len(rows), [None, pa.py_buffer(rows)]))
    appended = {name: b"".join(link.appended[name] for link in links) for name in first.appended}
    blobs: dict[str, bytes] = {}
    for link in links:
        blobs |= link.blobs  # each replaces the one of its name before it
    return dataclasses.replace(newest, table=table, base=None, blobs=blobs, appended=appended)


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
