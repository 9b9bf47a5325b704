"""Progress without a terminal: one line every ~10 s, and a last line when optimize ends."""

from __future__ import annotations

import dataclasses
import io

from raysweep.orchestrator._core._protocol import Progress
from raysweep.orchestrator._ray._progress import ProgressDisplay


def _progress(finished: int) -> Progress:
    return Progress(
        counts={"complete": finished - 1, "pruned": 1, "running": 2},
        best_value=0.93,
        target=10,
        finished=finished,
        accepting=True,
    )


def test_lines_not_a_bar_when_the_stream_is_not_a_terminal() -> None:
    stream = io.StringIO()
    display = ProgressDisplay(total=10, already=0, enabled=True, stream=stream)
    display.update(_progress(3))  # within the first 10 s: nothing yet
    assert stream.getvalue() == ""
    display.close(_progress(10))
    line = stream.getvalue().strip()
    assert line.startswith("[raysweep] done: 10/10 |")
    assert "complete 9" in line and "pruned 1" in line and "best 0.93" in line
    assert "trials/s" in line


def test_show_progress_false_prints_nothing() -> None:
    stream = io.StringIO()
    display = ProgressDisplay(total=10, already=0, enabled=False, stream=stream)
    display.update(_progress(3))
    display.close(_progress(10))
    assert stream.getvalue() == ""


def test_the_line_says_why_trials_wait_for_hardware() -> None:
    stream = io.StringIO()
    display = ProgressDisplay(total=10, already=0, enabled=True, stream=stream)
    waiting = dataclasses.replace(
        _progress(4), waiting="trial 5 waits: no free GPU of type H100 for {GPU: 1}"
    )
    display.close(waiting)
    assert (
        stream.getvalue()
        .strip()
        .endswith("trials/s | trial 5 waits: no free GPU of type H100 for {GPU: 1}")
    )
