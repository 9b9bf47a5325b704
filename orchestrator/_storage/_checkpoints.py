"""Checkpoints of paused trials, stored beside the study's log through `pyarrow.fs`.

A trial that pauses at a rung hands over its state (whatever its `checkpoint=` function
returns); the runner pickles it and writes it under ``<study>/checkpoints/trial-<n>/``. A local
path or any URI `pyarrow.fs` understands (``s3://``, ``gs://``) works.

`save` returns only once the checkpoint is durable, since the runner then reports the pause and
the log commits it: a crash after that commit must find the checkpoint the log names. A reader
never sees half a checkpoint. On a local file system the bytes go to a temporary file that is
fsynced, renamed into place, and the directory fsynced (new folders too). On an object store
the final key is written in one stream, whose close completes the upload (an S3 PUT is atomic;
a "move" there is a copy and a delete, neither atomic nor cheap); an upload that fails raises.
"""

from __future__ import annotations

import contextlib
import pickle
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs

from raysweep.orchestrator._errors import ObjectiveUsageError
from raysweep.orchestrator._storage._files import atomic_write, make_directories


def _filesystem(location: str) -> tuple[pafs.FileSystem, str]:
    if "://" in location:
        # file:// comes back as the LocalFileSystem, and is written as a local path.
        fs, path = pafs.FileSystem.from_uri(location)
        return fs, path
    return pafs.LocalFileSystem(), location


def _join(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *parts])


def serialize(state: Any, *, trial: int, step: int) -> bytes:
    """Pickle a checkpoint; ObjectiveUsageError saying what to return instead when it cannot."""
    try:
        return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        raise ObjectiveUsageError(
            f"trial {trial} paused at step {step}, but its checkpoint cannot be saved: "
            f"{type(exc).__name__}: {exc}. Return plain data from the checkpoint function "
            "(numbers, lists, dicts, numpy arrays, a torch model's state_dict()), not open "
            "files, locks, generators or lambdas"
        ) from None


def save(root: str, trial: int, step: int, data: bytes) -> str:
    """Write a serialized checkpoint, durably; returns its location.

    When this returns the checkpoint is on stable storage, so the pause that names it may be
    committed: a crash after that commit must not leave a paused trial without its state.
    """
    fs, base = _filesystem(root)
    directory = _join(base, f"trial-{trial}")
    final = _join(directory, f"step-{step}.pkl")
    if isinstance(fs, pafs.LocalFileSystem):
        _save_local(Path(directory), Path(final), data)
    else:
        _save_object(fs, final, data)
    return final if "://" not in root else _join(root, f"trial-{trial}", f"step-{step}.pkl")


def _save_local(directory: Path, final: Path, data: bytes) -> None:
    # A temporary file, fsynced, renamed, then the directory fsynced: readers never see half a
    # checkpoint, and the new name is on disk before the pause is committed.
    make_directories(directory)
    with atomic_write(final) as sink:
        sink.write(data)


def _save_object(fs: pafs.FileSystem, final: str, data: bytes) -> None:
    # An object store's PUT is atomic (a reader sees the old object or the new one), and
    # there is no atomic rename: a "move" is a copy and a delete, so the key is written once,
    # in one stream. The upload completes in close(); its error must reach the caller.
    fs.create_dir(final.rsplit("/", 1)[0], recursive=True)
    out = fs.open_output_stream(final)
    try:
        out.write(data)
    except BaseException:
        # No way to abort the upload: close what was sent and drop it, so that no torn object
        # stays under the final key.
        with contextlib.suppress(Exception):
            out.close()
        with contextlib.suppress(Exception):
            fs.delete_file(final)
        raise
    out.close()


def load(location: str) -> Any:
    """Read back a checkpoint written by :func:`save`."""
    fs, path = _filesystem(location)
    with fs.open_input_stream(path) as source:
        return pickle.loads(source.read())


def remove(location: str) -> None:
    """Delete a checkpoint no longer needed; a missing one is fine."""
    fs, path = _filesystem(location)
    info = fs.get_file_info(path)
    if info.type != pafs.FileType.NotFound:
        fs.delete_file(path)
