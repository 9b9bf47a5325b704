"""Checkpoints of paused trials: durable once saved, and never code to run when loaded."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs
import pytest

from raysweep.orchestrator._storage import _checkpoints


def test_a_local_checkpoint_and_its_directories_are_synced_before_save_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []  # inodes, in the order they were synced
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.fstat(fd).st_ino)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    root = tmp_path / "checkpoints"
    location = _checkpoints.save(str(root), 3, 9, _checkpoints.serialize({"w": 1}, trial=3, step=9))
    final = Path(location)
    assert final.is_file()
    # The rename keeps the inode: the file was synced (under its temporary name, before the
    # rename), then the directory holding the new name, then the one holding the new folder.
    file, directory, parent = (p.stat().st_ino for p in (final, final.parent, root))
    assert file in synced
    assert directory in synced
    assert synced.index(file) < synced.index(directory)
    assert parent in synced


class _RecordingStore:
    """An object store (pyarrow's in-memory mock) that records what is done to it."""

    def __init__(self, *, fail_close: bool = False) -> None:
        self.fs = pafs._MockFileSystem()
        self.calls: list[tuple[str, str]] = []
        self.fail_close = fail_close

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.fs, name)

        def recorded(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, str(args[0]) if args else ""))
            result = method(*args, **kwargs)
            if name == "open_output_stream" and self.fail_close:
                return _FailingClose(result)
            return result

        return recorded


class _FailingClose:
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __enter__(self) -> _FailingClose:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, data: bytes) -> int:
        return int(self._stream.write(data))

    def close(self) -> None:
        self._stream.close()
        raise OSError("upload failed: the part was not accepted")


def test_an_object_store_checkpoint_is_one_put_of_its_final_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = _RecordingStore()
    monkeypatch.setattr(
        _checkpoints, "_filesystem", lambda location: (store, location.split("://", 1)[1])
    )
    data = _checkpoints.serialize({"w": 1}, trial=3, step=9)
    location = _checkpoints.save("s3://bucket/study/checkpoints", 3, 9, data)
    assert location.startswith("s3://bucket/study/checkpoints/trial-3/step-9.")
    written = [path for name, path in store.calls if name == "open_output_stream"]
    # Written once, straight to its final key: S3 has no atomic rename, and a PUT is atomic.
    assert written == [location.split("://", 1)[1]]
    assert not [name for name, _ in store.calls if name in ("move", "copy_file")]
    with store.fs.open_input_stream(written[0]) as source:
        assert source.read() == data


def test_a_failed_upload_is_an_error_from_save(monkeypatch: pytest.MonkeyPatch) -> None:
    store = _RecordingStore(fail_close=True)
    monkeypatch.setattr(
        _checkpoints, "_filesystem", lambda location: (store, location.split("://", 1)[1])
    )
    data = _checkpoints.serialize({"w": 1}, trial=3, step=9)
    with pytest.raises(OSError, match="upload failed"):
        _checkpoints.save("s3://bucket/study/checkpoints", 3, 9, data)
