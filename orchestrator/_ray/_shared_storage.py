"""Whether every node that may run a trial reaches the study's checkpoints.

A paused trial's checkpoint is written by the runner that paused it and read by whichever
runner resumes it, on any node; a re-run after a lost node reads it elsewhere too. A study under
an object-store URI is reached from everywhere. A study under a local path is reached only
where that path names the same storage: a shared file system mounted alike on every node, or a
cluster of one machine. That is checked, not assumed: the pool writes a token file under the
checkpoint root and a task on each node reads it back, before the first runner starts there (at
the start of `optimize` for the nodes that exist, later for nodes that join). A node that does
not see the file stops the call with a `StorageError` that says what to change, instead of a
trial that fails with FileNotFoundError when it is resumed there.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from raysweep.orchestrator._errors import StorageError
from raysweep.orchestrator._storage._files import atomic_write, make_directories
from raysweep.orchestrator._storage._object_store import is_uri

__all__ = ["SharedStorageCheck", "reach_problem"]

# A zero-CPU task needs only a worker process on its node: seconds, even on a busy machine.
_ANSWER_WITHIN_S = 60.0


def reach_problem(root: str, answers: Mapping[str, bool | None]) -> str | None:
    """What to tell the user when some node does not reach `root` (node id -> whether it read
    the token back; None: it did not answer in time); None when every node did."""
    missing = sorted(node for node, seen in answers.items() if seen is False)
    silent = sorted(node for node, seen in answers.items() if seen is None)
    if not missing and not silent:
        return None
    parts = []
    if missing:
        parts.append(f"{_nodes(missing)} cannot read files written there")
    if silent:
        parts.append(f"{_nodes(silent)} did not answer within {_ANSWER_WITHIN_S:.0f} s")
    return (
        f"the study's checkpoints are under the local path {root}, and {'; '.join(parts)}: "
        "a trial paused, promoted or re-run on such a node would not find its checkpoint. "
        "Keep the study where every node reaches it: create_study(storage='s3://bucket/prefix') "
        "(any pyarrow.fs URI), or a shared file system mounted at the same path on every node"
    )


def _nodes(ids: list[str]) -> str:
    shown = ", ".join(node[:12] for node in ids[:5])
    more = f" and {len(ids) - 5} more" if len(ids) > 5 else ""
    return f"node{'s' if len(ids) > 1 else ''} {shown}{more}"


def _reads(path: str, token: str) -> bool:
    try:
        return Path(path).read_text() == token
    except OSError:
        return False


_reads_remote = ray.remote(num_cpus=0, max_retries=0)(_reads)


class SharedStorageCheck:
    """The nodes known to reach a checkpoint root; `check` tries the others."""

    def __init__(self, checkpoint_root: str | None, here: str) -> None:
        # Nothing to check for an object store, or a study that keeps no checkpoints.
        self._root = None if checkpoint_root is None or is_uri(checkpoint_root) else checkpoint_root
        self._reached = {here}

    def check(self, nodes: Iterable[str]) -> None:
        """StorageError unless every one of `nodes` reads what this process writes."""
        if self._root is None:
            return
        todo = sorted(set(nodes) - self._reached)
        if not todo:
            return
        token = secrets.token_hex(16)
        path = Path(self._root) / f".reached-{token}"
        try:
            make_directories(path.parent)
            with atomic_write(path) as out:
                out.write(token.encode())
        except OSError as exc:
            raise StorageError(
                f"cannot write under the checkpoint root {self._root}: {exc}"
            ) from exc
        try:
            answers = self._ask(todo, str(path), token)
        finally:
            with contextlib.suppress(OSError):
                path.unlink()
        problem = reach_problem(self._root, answers)
        if problem is not None:
            raise StorageError(problem)
        self._reached.update(answers)

    def _ask(self, todo: list[str], path: str, token: str) -> dict[str, bool | None]:
        refs = {
            node: _reads_remote.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=node, soft=False)
            ).remote(path, token)
            for node in todo
        }
        ready, _ = ray.wait(list(refs.values()), num_returns=len(refs), timeout=_ANSWER_WITHIN_S)
        answers: dict[str, bool | None] = {}
        for node, ref in refs.items():
            if ref not in ready:
                answers[node] = None
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)
                continue
            try:
                answers[node] = bool(ray.get(ref))
            except ray.exceptions.RayError:
                # The node went while it was asked (or its task could not be placed there):
                # it runs nothing now, and is asked again should a runner be meant for it.
                continue
        return answers
