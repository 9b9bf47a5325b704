"""Sample how busy a GPU is (NVML's utilization %) in a background thread.

Used by the examples to print the mean GPU busy % of a search. Without pynvml or without a GPU it
samples nothing and says "n/a"; it never raises because NVML is missing.
"""

from __future__ import annotations

import contextlib
import threading
from types import TracebackType
from typing import Any


class GpuBusySampler:
    """`with GpuBusySampler(enabled=...) as gpu: ...`, then `gpu.mean` (None when not sampled)."""

    def __init__(self, *, enabled: bool = True, index: int = 0, interval_s: float = 0.2) -> None:
        self._enabled = enabled
        self._index = index
        self._interval_s = interval_s
        self._samples: list[int] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._nvml: Any = None
        self._handle: Any = None

    def __enter__(self) -> GpuBusySampler:
        if self._enabled:
            self._open()
        if self._handle is not None:
            self._thread = threading.Thread(target=self._sample, name="gpu-busy", daemon=True)
            self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._nvml is not None:
            with contextlib.suppress(Exception):
                self._nvml.nvmlShutdown()

    @property
    def mean(self) -> float | None:
        """Mean busy % over the samples taken, or None when nothing was sampled."""
        return sum(self._samples) / len(self._samples) if self._samples else None

    def describe(self) -> str:
        return "n/a" if self.mean is None else f"{self.mean:.1f}%"

    def _open(self) -> None:
        try:
            import pynvml

            pynvml.nvmlInit()
        except Exception:  # no pynvml, or no NVIDIA driver
            return
        self._nvml = pynvml
        try:
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(self._index)
        except Exception:  # no GPU at that index
            self._handle = None

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                self._samples.append(
                    int(self._nvml.nvmlDeviceGetUtilizationRates(self._handle).gpu)
                )
            except Exception:
                return  # the GPU went away, or NVML failed: keep what was sampled
            self._stop.wait(self._interval_s)
