"""Progress of a running `optimize`: a live bar on a terminal, a line every ~10 s otherwise."""

from __future__ import annotations

import sys
import time
from typing import IO, Any

from raysweep.orchestrator._core._protocol import Progress

_LINE_EVERY_S = 10.0


def _states(progress: Progress) -> str:
    counts = ", ".join(f"{state} {n}" for state, n in sorted(progress.counts.items()))
    best = "-" if progress.best_value is None else f"{progress.best_value:.6g}"
    return f"{counts or 'no trials'} | best {best}"


def _summary(progress: Progress, elapsed: float, finished_here: int) -> str:
    rate = finished_here / elapsed if elapsed > 0 else 0.0
    waiting = f" | {progress.waiting}" if progress.waiting else ""
    return f"{_states(progress)} | {rate:.2f} trials/s{waiting}"


class ProgressDisplay:
    def __init__(
        self, *, total: int, already: int, enabled: bool, stream: IO[str] | None = None
    ) -> None:
        self._stream = stream or sys.stderr
        self._enabled = enabled
        self._start = time.monotonic()
        self._already = already
        self._last_line = self._start
        self._bar: Any = None
        if enabled and self._stream.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, initial=already, file=self._stream, unit="trial")

    def update(self, progress: Progress) -> None:
        if not self._enabled:
            return
        now = time.monotonic()
        if self._bar is not None:
            self._bar.n = progress.finished
            waiting = f" | {progress.waiting}" if progress.waiting else ""
            # tqdm shows the rate
            self._bar.set_postfix_str(_states(progress) + waiting, refresh=False)
            self._bar.refresh()
        elif now - self._last_line >= _LINE_EVERY_S:
            self._last_line = now
            summary = _summary(progress, now - self._start, progress.finished - self._already)
            print(
                f"[raysweep] {progress.finished}/{progress.target} done | {summary}",
                file=self._stream,
                flush=True,
            )

    def close(self, progress: Progress | None) -> None:
        if not self._enabled:
            return
        if self._bar is not None:
            if progress is not None:
                self.update(progress)
            self._bar.close()
        elif progress is not None:
            elapsed = time.monotonic() - self._start
            print(
                f"[raysweep] done: {progress.finished}/{progress.target} | "
                f"{_summary(progress, elapsed, progress.finished - self._already)}",
                file=self._stream,
                flush=True,
            )
