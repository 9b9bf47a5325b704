"""Durable file-system primitives shared by the event log and the lease.

POSIX only: a rename is atomic, and a new or renamed directory entry is durable only once the
directory itself has been fsynced.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "TEMP_MARK",
    "atomic_write",
    "fsync_directory",
    "make_directories",
    "remove_temp_files",
    "write_all",
]

# Every temporary file we create carries this in its name, so leftovers from a crash can be
# recognised (and removed by the next owner) without ever matching a real file name.
TEMP_MARK = ".tmp-"


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_directories(directory: Path) -> None:
    """``mkdir -p`` whose new entries survive a crash: each new folder's parent is fsynced.

    Safe when another process creates the same folders at the same time.
    """
    missing = []
    while not directory.is_dir():
        missing.append(directory)
        directory = directory.parent
    for new in reversed(missing):
        new.mkdir(exist_ok=True)
        fsync_directory(new.parent)


def write_all(fd: int, data: bytes | memoryview) -> None:
    # os.write may write less than asked (signals, some file systems); a short write left
    # unnoticed would tear a record that we then report as durable.
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


@contextlib.contextmanager
def atomic_write(path: Path) -> Iterator[BinaryIO]:
    """Write ``path`` all-or-nothing: readers see the old file or the complete new one.

    The data goes to a hidden temporary file that is fsynced, renamed over ``path``, and made
    durable by fsyncing the directory. On any error the temporary file is removed and ``path``
    is left untouched.
    """
    temp = path.with_name(f".{path.name}{TEMP_MARK}{uuid.uuid4().hex[:12]}")
    try:
        with open(temp, "xb") as sink:
            yield sink
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    fsync_directory(path.parent)


def remove_temp_files(directory: Path, prefix: str) -> None:
    """Remove leftovers of interrupted :func:`atomic_write` calls for names starting ``prefix``.

    Only the current owner of the directory (the lease holder) may call this: another writer's
    temporary file would vanish under it.
    """
    for entry in directory.glob(f".{prefix}*{TEMP_MARK}*"):
        with contextlib.suppress(FileNotFoundError):
            entry.unlink()
