"""Objectives defined in these tests travel to Ray workers by value, whatever their sys.path;
an S3 server on loopback (moto) for the object-store tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

import objectives
import pytest
from ray import cloudpickle

if TYPE_CHECKING:
    from s3_helpers import S3Server

cloudpickle.register_pickle_by_value(objectives)


def pytest_collection_finish(session: pytest.Session) -> None:
    for item in session.items:
        module = getattr(item, "module", None)
        if (
            module is not None
            and module.__name__ in sys.modules
            and "orchestrator" in str(getattr(module, "__file__", ""))
        ):
            cloudpickle.register_pickle_by_value(module)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 on a loopback port for the whole run (each test takes a bucket of its own)."""
    from s3_helpers import moto_server

    with moto_server() as server:
        yield server
