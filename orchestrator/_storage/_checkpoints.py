"""Checkpoints of paused trials, stored beside the study's log through `pyarrow.fs`.

A trial that pauses at a rung hands over its state (whatever its `checkpoint=` function
returns); the runner pickles it and writes it under ``<study>/checkpoints/trial-<n>/``. The
write goes to a temporary name first and is then moved into place, so a reader never sees half
a checkpoint. A local path or any URI `pyarrow.fs` understands (``s3://``, ``gs://``) works.
"""

from __future__ import annotations

import pickle
import uuid
from typing import Any

import pyarrow.fs as pafs

from raysweep.orchestrator._errors import ObjectiveUsageError


def _filesystem(location: str) -> tuple[pafs.FileSystem, str]:
    if "://" in location:
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
    """Write a serialized checkpoint; returns its location."""
    fs, base = _filesystem(root)
    directory = _join(base, f"trial-{trial}")
    fs.create_dir(directory, recursive=True)
    final = _join(directory, f"step-{step}.pkl")
    temporary = _join(directory, f".step-{step}-{uuid.uuid4().hex}.tmp")
    with fs.open_output_stream(temporary) as out:
        out.write(data)
    fs.move(temporary, final)
    return final if "://" not in root else _join(root, f"trial-{trial}", f"step-{step}.pkl")


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
