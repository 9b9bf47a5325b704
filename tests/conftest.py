"""Shared fixtures: one Ray session for the whole test run, started only if a test needs it."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

# The samplers' linear algebra works on small matrices, where BLAS threads on a 2-core CI machine
# cost more than they give (GP fits ran 4-10x slower under load); set before numpy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

# Fake accelerators: Ray accepts declared resources without hardware.
RAY_RESOURCES = {"num_cpus": 2, "num_gpus": 2, "resources": {"TPU": 4, "fast_disk": 1}}


@pytest.fixture(scope="session")
def ray_session() -> Iterator[str]:
    """A local Ray for the whole session; yields its address (for subprocess drivers)."""
    import ray

    temp_dir = tempfile.mkdtemp(prefix="rs-", dir="/tmp")
    context = ray.init(
        include_dashboard=False,
        object_store_memory=100 * 1024 * 1024,
        _temp_dir=temp_dir,
        log_to_driver=False,
        **RAY_RESOURCES,  # type: ignore[arg-type]
    )
    try:
        yield context.address_info["address"]
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that uses the Ray session is a `ray` test, whatever module it is in.

    So `pytest -m "not ray"` runs the pure suite, which starts no Ray, without each Ray test
    having to remember its marker. Tests that start a Ray of their own mark themselves.
    """
    for item in items:
        if "ray_session" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.ray)
