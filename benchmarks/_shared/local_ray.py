"""The local Ray session a benchmark runs its systems on, and the scratch folder it works in."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Every system of a benchmark shares these CPUs, ours and the peers alike.
CPUS = 2


@contextlib.contextmanager
def scratch(prefix: str, parent: Path | None = None) -> Iterator[Path]:
    """A temporary folder for a run's studies and logs (in `parent`, by default the system's
    temporary folder), removed afterwards."""
    work = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def local_ray(work: Path, **options: Any) -> Iterator[None]:
    """A Ray session of `CPUS` CPUs on this machine, without a dashboard, whose temporary
    folder is `work`; `options` go to `ray.init`. Shut down on leaving."""
    import ray

    # A Ray temp dir of our own: the default one is shared with anything else on the machine.
    os.environ["RAY_TMPDIR"] = str(work)
    # No token to set up and no usage report sent: a benchmark runs on a machine of its own.
    os.environ["RAY_AUTH_MODE"] = "disabled"
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(num_cpus=CPUS, include_dashboard=False, **options)
    try:
        yield
    finally:
        ray.shutdown()
