"""Checkpoints of paused trials, stored beside the study's log through `pyarrow.fs`.

A trial that pauses at a rung hands over its state (whatever its `checkpoint=` function
returns); the runner writes it to ``<checkpoint root>/trial-<n>/step-<s>.<ext>``. A local path
or any URI `pyarrow.fs` understands (``s3://``, ``gs://``) works.

**Where.** The path is made from the trial's number and step only, both when saving and when
loading or removing. The log's ``trial_paused`` event still names the checkpoint, for readers,
but nothing here opens or deletes a path read from the log: a crafted log could otherwise make a
runner load, or the TrialScheduler delete, any file.

**Formats.** A pickle runs code when loaded, so whoever can write the study's storage could run
code in every runner. The default, ``"safe"`` (``.npz``, `_safe_checkpoint`), holds data only:
dicts with str or int keys, lists, tuples, numbers, strings, numpy arrays and scalars, and torch
tensors — what a model's and an optimizer's ``state_dict()`` are made of. ``"pickle"``
(``.pkl``) holds any picklable object and is an explicit choice of the process that opens the
study: it trusts everyone who can write the storage. It reaches the runners in their
`Assignment`, never from the log. A runner told ``"safe"`` refuses a ``.pkl`` checkpoint (one of
an older study, say); one told ``"pickle"`` reads both.

**Durability.** `save` returns only once the checkpoint is durable, since the runner then
reports the pause and the log commits it: a crash after that commit must find the checkpoint.
A reader never sees half a checkpoint. On a local file system the bytes go to a temporary file
that is fsynced, renamed into place, and the directory fsynced (new folders too). On an object
store the final key is written in one stream, whose close completes the upload (an S3 PUT is
atomic; a "move" there is a copy and a delete, neither atomic nor cheap); an upload that fails
raises, and the pause is then not recorded.
"""

from __future__ import annotations

import contextlib
import pickle
from pathlib import Path
from typing import Any, Literal

import pyarrow.fs as pafs

from raysweep.orchestrator._errors import ObjectiveUsageError, StorageError
from raysweep.orchestrator._storage import _safe_checkpoint
from raysweep.orchestrator._storage._files import atomic_write, make_directories

__all__ = [
    "CHECKPOINT_FORMATS",
    "DEFAULT_FORMAT",
    "CheckpointFormat",
    "check_format",
    "load",
    "location",
    "remove",
    "save",
]

CheckpointFormat = Literal["safe", "pickle"]
CHECKPOINT_FORMATS: tuple[CheckpointFormat, ...] = ("safe", "pickle")
DEFAULT_FORMAT: CheckpointFormat = "safe"
_SUFFIX: dict[CheckpointFormat, str] = {"safe": "npz", "pickle": "pkl"}
_PICKLE_TRUST = (
    'checkpoint_format="pickle" stores any picklable object, and trusts the storage: whoever '
    "can write it can run code in every runner"
)


def check_format(value: object) -> CheckpointFormat:
    """`value` as a checkpoint format; ValueError saying the choices when it is not one."""
    for known in CHECKPOINT_FORMATS:
        if value == known and type(value) is str:
            return known
    raise ValueError(
        f'checkpoint_format must be "safe" (the default: checkpoints hold data only, so loading '
        f'one cannot run code) or "pickle" (any picklable object; only for storage you trust: '
        f"whoever can write it can run code in every runner), not {value!r}"
    )


def location(root: str, trial: int, step: int, checkpoint_format: CheckpointFormat) -> str:
    """Where the checkpoint of `trial` at `step` lives: made of the two numbers only."""
    _check_number("trial", trial)
    _check_number("step", step)
    return _join(root, f"trial-{trial}", f"step-{step}.{_SUFFIX[checkpoint_format]}")


def save(
    root: str,
    trial: int,
    step: int,
    state: Any,
    *,
    checkpoint_format: CheckpointFormat = DEFAULT_FORMAT,
) -> str:
    """Store a paused trial's state, durably; returns where (for the log's readers).

    Raises ObjectiveUsageError, saying what to return instead, when the format cannot hold it.
    """
    final = location(root, trial, step, checkpoint_format)
    data = _serialize(state, trial, step, checkpoint_format)
    fs, path = _filesystem(final)
    if isinstance(fs, pafs.LocalFileSystem):
        _save_local(Path(path), data)
    else:
        _save_object(fs, path, data)
    return final


def load(
    root: str,
    trial: int,
    step: int,
    *,
    checkpoint_format: CheckpointFormat = DEFAULT_FORMAT,
) -> Any:
    """Read back the state `save` stored for `trial` at `step`.

    StorageError when it is missing or damaged; ObjectiveUsageError when it is a pickle and the
    runner was told ``"safe"``.
    """
    order: tuple[CheckpointFormat, ...] = (
        ("safe", "pickle") if checkpoint_format == "safe" else ("pickle", "safe")
    )
    for candidate in order:
        where = location(root, trial, step, candidate)
        fs, path = _filesystem(where)
        try:
            if fs.get_file_info(path).type == pafs.FileType.NotFound:
                continue
            if candidate == "pickle" and checkpoint_format == "safe":
                raise ObjectiveUsageError(
                    f"the checkpoint of trial {trial} at step {step} is a pickle ({where}), and "
                    'this study was opened with checkpoint_format="safe" (the default), which '
                    "never loads a pickle: loading one runs whatever code it holds. If you trust "
                    f"everyone who can write {root}, open the study with create_study(..., "
                    'checkpoint_format="pickle")'
                )
            with fs.open_input_stream(path) as source:
                data = source.read()
        except OSError as exc:
            raise StorageError(
                f"cannot read the checkpoint of trial {trial} at step {step} ({where}): {exc}"
            ) from exc
        return _deserialize(data, trial, step, where, candidate)
    raise StorageError(
        f"the checkpoint of trial {trial} at step {step} is missing: neither "
        f"{location(root, trial, step, 'safe')} nor its .pkl twin exists, though the log says "
        "the trial paused there with one (was the checkpoints folder moved or cleaned?)"
    )


def remove(root: str, trial: int, step: int) -> None:
    """Delete the checkpoint of `trial` at `step` in either format; a missing one is fine."""
    for checkpoint_format in CHECKPOINT_FORMATS:
        fs, path = _filesystem(location(root, trial, step, checkpoint_format))
        if fs.get_file_info(path).type != pafs.FileType.NotFound:
            fs.delete_file(path)


# ----- how --------------------------------------------------------------------------------------


def _check_number(name: str, value: object) -> None:
    # The numbers become a path: anything but a plain int ≥ 0 could name another file.
    if type(value) is not int or value < 0:
        raise ValueError(f"a checkpoint's {name} must be an int ≥ 0, not {value!r}")


def _filesystem(location: str) -> tuple[pafs.FileSystem, str]:
    if "://" in location:
        # file:// comes back as the LocalFileSystem, and is written as a local path.
        fs, path = pafs.FileSystem.from_uri(location)
        return fs, path
    return pafs.LocalFileSystem(), location


def _join(root: str, *parts: str) -> str:
    # A URI's query (an S3 endpoint_override, say) stays at the end, after the path it modifies.
    base, mark, query = root.partition("?")
    return "/".join([base.rstrip("/"), *parts]) + mark + query


def _serialize(state: Any, trial: int, step: int, checkpoint_format: CheckpointFormat) -> bytes:
    cannot = f"trial {trial} paused at step {step}, but its checkpoint cannot be saved"
    if checkpoint_format == "pickle":
        try:
            return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise ObjectiveUsageError(
                f"{cannot}: {type(exc).__name__}: {exc}. Return plain data from the checkpoint "
                "function (numbers, lists, dicts, numpy arrays, a torch model's state_dict()), "
                "not open files, locks, generators or lambdas"
            ) from None
    try:
        return _safe_checkpoint.encode(state)
    except _safe_checkpoint.Unsupported as exc:
        raise ObjectiveUsageError(
            f"{cannot}: {exc}. The default checkpoint format holds {_safe_checkpoint.SUPPORTED}: "
            "return the state as such data (a torch model's and optimizer's state_dict(), "
            "a scikit-learn model's arrays), or, if it must be another object, create the study "
            f"with {_PICKLE_TRUST}"
        ) from None


def _deserialize(
    data: bytes, trial: int, step: int, where: str, checkpoint_format: CheckpointFormat
) -> Any:
    if checkpoint_format == "pickle":
        try:
            return pickle.loads(data)  # the runner was told to trust the storage
        except Exception as exc:
            raise StorageError(
                f"the checkpoint of trial {trial} at step {step} ({where}) cannot be unpickled: "
                f"{type(exc).__name__}: {exc}"
            ) from None
    try:
        return _safe_checkpoint.decode(data)
    except _safe_checkpoint.DamagedCheckpoint as exc:
        raise StorageError(
            f"the checkpoint of trial {trial} at step {step} ({where}) is damaged or not a "
            f"raysweep checkpoint: {exc}"
        ) from None


def _save_local(final: Path, data: bytes) -> None:
    # A temporary file, fsynced, renamed, then the directory fsynced: readers never see half a
    # checkpoint, and the new name is on disk before the pause is committed.
    make_directories(final.parent)
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
