"""Objectives defined in these tests travel to Ray workers by value, whatever their sys.path."""

from __future__ import annotations

import sys

import objectives
import pytest
from ray import cloudpickle

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
