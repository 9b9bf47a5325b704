"""Helpers shared by the event-log tests."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from raysweep.orchestrator._storage._log import Event, EventLog

SAMPLE_V1 = Path(__file__).parent / "data" / "log_format_v1"


def fixed_clock(start: float = 1000.0) -> Callable[[], float]:
    ticks = itertools.count()
    return lambda: start + next(ticks)


def segments(directory: Path) -> list[Path]:
    return sorted((directory / "segments").iterdir())


def snapshots(directory: Path) -> list[Path]:
    return sorted((directory / "snapshots").iterdir())


def write_events(directory: Path, count: int, **options: Any) -> list[Event]:
    log, _, _ = EventLog.open(directory, create=True, **options)
    with log:
        return [log.append("report", i, {"step": i}) for i in range(count)]
