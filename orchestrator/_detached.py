"""Detached studies, seen from any process on the cluster: find one by name, watch it, stop it.

`Study.optimize(..., detach=True)` starts one (see `_ray._study_host` for how it runs); this
module is what a later process uses — `attach_study`, `detached_studies`, and the CLI's
`raysweep status / attach / stop` through them.
"""

from __future__ import annotations

import time

from raysweep.orchestrator._errors import DetachedStudyError
from raysweep.orchestrator._ray._session import join_cluster
from raysweep.orchestrator._ray._study_host import (
    DetachedStatus,
    RunState,
    StudyHostHandle,
    detached_names,
    find_host,
)

__all__ = ["DetachedStudy", "attach_study", "detached_studies"]

# After a stop of an ended run, how long its host may take to give up its name.
_GONE_WAIT_S = 10.0


class DetachedStudy:
    """A study whose `optimize` runs detached on the Ray cluster, by its name.

    Get one from `study.optimize(..., detach=True)` or `attach_study(name)`. The study's data
    is in its log as always; this object only talks to the run. To read or ask the study
    itself while it runs, open it in this process: `create_study(name=..., storage=...,
    load_if_exists=True)` gives a `Study` bound to the running one.
    """

    def __init__(self, name: str, host: StudyHostHandle) -> None:
        self._name = name
        self._host = host

    @property
    def name(self) -> str:
        return self._name

    def status(self) -> DetachedStatus:
        """Where the run is now: its state, the study's counts and best value."""
        return self._host.status()

    def wait(self, timeout: float | None = None) -> DetachedStatus:
        """Wait until the run has ended (or `timeout` s have passed); its last status.

        Raises DetachedStudyError, with what the run raised, if it failed.
        """
        status = self._host.wait(timeout)
        if status.state is RunState.FAILED:
            raise DetachedStudyError(
                f"the detached run of study {self._name!r} failed: {status.error}"
            )
        return status

    def stop(
        self, *, now: bool = False, wait: bool = True, timeout: float | None = None
    ) -> DetachedStatus:
        """Stop the run cleanly: no new trials; running ones finish.

        `now`: running trials stop at their next report instead, recorded as interrupted (the
        study's next `optimize` re-runs them, from their checkpoint in promote mode). Once the
        run has ended its study is closed: the log committed and the lease released. `wait`
        (default) returns after that, or after `timeout` s. Stopping a run that has already
        ended removes it from the cluster's list.
        """
        status = self._host.status()
        if status.state.ended:
            if self._host.remove():
                _wait_gone(self._name)
            return status
        status = self._host.stop(now)
        return self._host.wait(timeout) if wait else status

    def __repr__(self) -> str:
        return f"DetachedStudy(name={self._name!r})"


def attach_study(name: str, *, address: str | None = None) -> DetachedStudy:
    """The detached study of that name on the Ray cluster (`address`, else ``RAY_ADDRESS``,
    else the one `ray start` recorded here). DetachedStudyError, naming those there, if none.
    """
    join_cluster(address)
    host = find_host(name)
    if host is None:
        there = detached_names()
        listed = ", ".join(repr(n) for n in there) if there else "none"
        raise DetachedStudyError(
            f"no detached study named {name!r} on this Ray cluster (detached studies there: "
            f"{listed}). A run that ended is listed for an hour after; its log holds every "
            "trial: `raysweep trials <storage>/<name>`"
        )
    return DetachedStudy(name, host)


def detached_studies(*, address: str | None = None) -> list[DetachedStatus]:
    """The status of every detached study on the Ray cluster (running ones, and those that
    ended in the last hour), by name."""
    join_cluster(address)
    statuses = []
    for name in detached_names():
        host = find_host(name)
        if host is None:
            continue  # gone since it was listed
        try:
            statuses.append(host.status())
        except DetachedStudyError:
            continue
    return statuses


def _wait_gone(name: str) -> None:
    deadline = time.monotonic() + _GONE_WAIT_S
    while find_host(name) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
