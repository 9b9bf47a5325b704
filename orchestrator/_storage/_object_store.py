"""A study's place on an object store (``s3://``, ``gs://``, any ``pyarrow.fs`` URI).

An object store has no append, no fsync and no atomic rename, but it does have whole-object
writes: a PUT either lands completely or not at all, and a later listing and read see it
(S3 and GCS are strongly consistent for both). Everything the log keeps there is therefore
written whole, once, under a name that says what it holds (``_format``); the writer lease,
which must also be replaced without a race, is ``_s3_lease``.

The URI's query configures the connection as ``pyarrow.fs.FileSystem.from_uri`` reads it
(``s3://bucket/prefix?endpoint_override=127.0.0.1:9000&scheme=http``) and travels with the
study's location to the processes that open it, so an actor on another node reaches the same
endpoint. Credentials come from the environment as pyarrow and boto3 read them
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, a profile or an
instance role); they are never part of a message.
"""

from __future__ import annotations

import contextlib
import re
import time
import urllib.parse
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.fs as pafs

from raysweep.orchestrator._errors import StorageError
from raysweep.orchestrator._storage._format import LEASE_FILE, SEGMENTS, SNAPSHOTS, FileRef

__all__ = ["ObjectFiles", "ObjectLocation", "is_uri"]

_URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# Reads of a replay go out together: an object store answers each in tens of milliseconds,
# and a log between snapshots may be hundreds of small segments.
_READ_THREADS = 16
# A PUT cut short by the network is sent again, whole and under the same key, which cannot
# duplicate anything. pyarrow's own client already retries a dropped connection for about six
# seconds; these tries ride out a longer outage, and beyond them the store is down and the
# caller is told.
_PUT_ATTEMPTS = 3
_PUT_BACKOFF_S = 0.5


def is_uri(location: object) -> bool:
    """Whether ``location`` names storage by URI (``s3://...``) rather than a local path."""
    return isinstance(location, str) and _URI.match(location) is not None


@dataclass(frozen=True)
class ObjectLocation:
    """A prefix of an object store, as ``pyarrow.fs`` opens it.

    ``uri`` is what the processes that open the study are given (query included: it holds the
    endpoint); :attr:`display` is what messages show: scheme and path, without the query or any
    credentials in the URI.
    """

    uri: str
    scheme: str
    filesystem: pafs.FileSystem
    path: str
    query: str

    @classmethod
    def parse(cls, uri: str) -> ObjectLocation:
        match = _URI.match(uri)
        if match is None:
            raise ValueError(f"{uri!r} is not a URI such as s3://bucket/prefix")
        scheme = match.group(1).lower()
        query = urllib.parse.urlsplit(uri).query
        try:
            filesystem, path = _open_filesystem(uri, scheme, query)
        except (pa.ArrowException, OSError, ValueError) as exc:
            shown = f"{scheme}://{_without_credentials(uri)}"
            raise StorageError(
                f"cannot open the storage {shown} ({exc}); give a URI pyarrow.fs understands, "
                "such as s3://bucket/prefix or s3://bucket/prefix?endpoint_override=host:port"
                "&scheme=http for an S3-compatible server"
            ) from exc
        path = path.rstrip("/")
        if not path:
            raise ValueError(f"the storage URI {uri!r} names no bucket: use s3://bucket/prefix")
        return cls(uri, scheme, filesystem, path, query)

    @property
    def display(self) -> str:
        return f"{self.scheme}://{self.path}"

    @property
    def bucket(self) -> str:
        return self.path.split("/", 1)[0]

    @property
    def key(self) -> str:
        """The path inside the bucket ('' for the bucket itself)."""
        return self.path.partition("/")[2]

    def child(self, *names: str) -> ObjectLocation:
        """The location ``names`` below this one, on the same store and endpoint."""
        for name in names:
            if not name or "/" in name or name in (".", ".."):
                raise ValueError(f"{name!r} is not one path component")
        path = "/".join([self.path, *names])
        split = urllib.parse.urlsplit(self.uri)
        uri = urllib.parse.urlunsplit(
            (split.scheme, split.netloc, split.path.rstrip("/") + "/" + "/".join(names), "", "")
        )
        if self.query:
            uri += "?" + self.query
        return ObjectLocation(uri, self.scheme, self.filesystem, path, self.query)

    def __str__(self) -> str:
        return self.display


def _open_filesystem(uri: str, scheme: str, query: str) -> tuple[pafs.FileSystem, str]:
    if scheme == "s3" and "allow_delayed_open" not in query:
        # Delayed open lets a small object go as one PutObject instead of a multipart upload
        # (create, part, complete): a third of the requests per commit. A pyarrow too old to
        # know the option refuses the parameter, and opens as before.
        try:
            opened: tuple[pafs.FileSystem, str] = pafs.FileSystem.from_uri(
                f"{uri}{'&' if query else '?'}allow_delayed_open=true"
            )
            return opened
        except (pa.ArrowInvalid, ValueError):
            pass
    found: tuple[pafs.FileSystem, str] = pafs.FileSystem.from_uri(uri)
    return found


def _without_credentials(uri: str) -> str:
    split = urllib.parse.urlsplit(uri)
    host = split.netloc.rpartition("@")[2]
    return host + split.path


class ObjectFiles:
    """The event log's files under one prefix: listed, read, written whole, deleted.

    File references are display URIs (``s3://bucket/prefix/segments/seg-...``), so that replay
    reports and error messages name them as a person would look them up.
    """

    def __init__(self, location: ObjectLocation) -> None:
        self._root = location
        self._fs = location.filesystem

    @property
    def location(self) -> str:
        return self._root.display

    @property
    def root(self) -> ObjectLocation:
        return self._root

    def _ref(self, path: str) -> str:
        return f"{self._root.scheme}://{path}"

    def _path(self, ref: str) -> str:
        return ref.removeprefix(f"{self._root.scheme}://")

    def _list(self, path: str) -> list[pafs.FileInfo]:
        try:
            found: list[pafs.FileInfo] = self._fs.get_file_info(
                pafs.FileSelector(path, allow_not_found=True, recursive=False)
            )
        except (pa.ArrowException, OSError) as exc:
            raise StorageError(
                f"cannot list {self._ref(path)} ({exc}); check the bucket, the endpoint and "
                "the credentials in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"
            ) from exc
        return found

    def require_log(self) -> None:
        """StorageError unless a log is here: its segments, snapshots, or at least its lease.

        (A prefix exists only while objects are under it, so a writer that has taken the lease
        and not yet committed leaves nothing else.)
        """
        names = {info.base_name for info in self._list(self._root.path)}
        if not names:
            raise StorageError(
                f"no event log at {self.location}: nothing is stored under that prefix "
                "(a writer creates it when opened with create=True)"
            )
        if not names & {SEGMENTS, SNAPSHOTS, LEASE_FILE}:
            raise StorageError(
                f"{self.location} is not a raysweep event log (it has no {SEGMENTS}/ prefix); "
                "check the URI, or create a new log there"
            )

    def entries(self, folder: str) -> list[tuple[str, FileRef]]:
        """(name, reference) of every object directly in ``folder``; none if it is empty."""
        found = self._list(f"{self._root.path}/{folder}")
        return [(i.base_name, self._ref(i.path)) for i in found if i.type == pafs.FileType.File]

    def read(self, ref: FileRef) -> bytes:
        try:
            with self._fs.open_input_stream(self._path(str(ref))) as source:
                return bytes(source.read())
        except (pa.ArrowException, OSError) as exc:
            raise StorageError(
                f"cannot read {ref} ({exc}); check the credentials and the endpoint"
            ) from exc

    def read_all(self, refs: Sequence[FileRef]) -> list[bytes]:
        if len(refs) <= 1:
            return [self.read(ref) for ref in refs]
        with ThreadPoolExecutor(min(_READ_THREADS, len(refs))) as pool:
            return list(pool.map(self.read, refs))

    def put(self, folder: str, name: str, data: bytes) -> str:
        """Write ``data`` whole as ``folder/name``; return its reference. OSError on failure.

        Sent again, unchanged, when the connection fails: the object then holds exactly these
        bytes once, whether or not an earlier try had landed.
        """
        path = f"{self._root.path}/{folder}/{name}"
        for attempt in range(1, _PUT_ATTEMPTS + 1):
            try:
                with self._fs.open_output_stream(path) as sink:
                    sink.write(data)
                return self._ref(path)
            except (pa.ArrowException, OSError) as exc:
                if attempt == _PUT_ATTEMPTS:
                    raise OSError(
                        f"cannot write {self._ref(path)} after {attempt} tries ({exc})"
                    ) from exc
                time.sleep(_PUT_BACKOFF_S * attempt)
        raise AssertionError("unreachable")

    def delete(self, ref: FileRef) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._fs.delete_file(self._path(str(ref)))

    def probe(self) -> None:
        """Write and delete a small object, so that bad credentials fail now, not mid-study."""
        name = f".probe-{uuid.uuid4().hex}"
        try:
            with self._fs.open_output_stream(f"{self._root.path}/{name}") as sink:
                sink.write(b"")
            self._fs.delete_file(f"{self._root.path}/{name}")
        except (pa.ArrowException, OSError) as exc:
            raise StorageError(
                f"cannot write the event log at {self.location} ({exc}); check that the "
                "bucket exists, the endpoint is right (endpoint_override= in the URI, or "
                "AWS_ENDPOINT_URL_S3) and the credentials in the environment may write it"
            ) from exc
