"""The geometric rung ladder shared by ASHA and Hyperband: its configuration and its checks."""

from __future__ import annotations

from dataclasses import dataclass

from raysweep.scheduling._base import Scheduler, as_int

# Each mode with what it does, for the error message that lists them.
MODES = {
    "stop": "stop the trials that fall behind at a rung",
    "promote": "pause every trial at each rung and resume the best 1/reduction_factor",
}


def ladder(min_resource: int, max_resource: int, reduction_factor: int) -> tuple[int, ...]:
    """The rungs ``min_resource * reduction_factor**k`` that lie below ``max_resource``.

    ``max_resource`` itself is no rung: a trial that reaches it has finished, so nothing is left
    to decide there. Empty when ``min_resource >= max_resource``.
    """
    rungs: list[int] = []
    resource = min_resource
    while resource < max_resource:
        rungs.append(resource)
        resource *= reduction_factor
    return tuple(rungs)


@dataclass(frozen=True, kw_only=True)
class LadderScheduler(Scheduler):
    """The configuration ASHA and Hyperband share: rungs from ``min_resource`` growing by
    ``reduction_factor`` below ``max_resource``, the full budget, in ``mode`` stop or promote.

    Validated on construction, with errors that name the concrete class and what to pass.
    """

    min_resource: int = 1
    max_resource: int
    reduction_factor: int = 3
    mode: str = "stop"

    def __post_init__(self) -> None:
        owner = type(self).__name__
        for name in ("min_resource", "max_resource", "reduction_factor"):
            object.__setattr__(self, name, as_int(owner, name, getattr(self, name)))
        if self.min_resource < 1:
            raise ValueError(
                f"{owner} min_resource must be at least 1, got {self.min_resource}: it is the "
                "first step at which trials are compared"
            )
        if self.max_resource <= self.min_resource:
            raise ValueError(
                f"{owner} max_resource ({self.max_resource}) must be greater than min_resource "
                f"({self.min_resource}): raise max_resource to the step at which training ends, "
                "or lower min_resource"
            )
        if self.reduction_factor < 2:
            raise ValueError(
                f"{owner} reduction_factor must be at least 2, got {self.reduction_factor}: each "
                "rung keeps the best 1/reduction_factor of its trials (3 is the usual choice)"
            )
        if not isinstance(self.mode, str):
            raise TypeError(f"{owner} mode must be a str, got {self.mode!r}")
        if self.mode not in MODES:
            known = "; ".join(f"{name!r} ({what})" for name, what in MODES.items())
            raise ValueError(f"{owner} mode {self.mode!r} is unknown; pass one of {known}")

    def fidelities(self) -> tuple[int, ...]:
        return (*self.decision_steps(), self.max_resource)

    @property
    def pauses(self) -> bool:
        return self.mode == "promote"

    def validate_step(self, step: int) -> None:
        super().validate_step(step)
        if step > self.max_resource:
            raise ValueError(
                f"step {step} is beyond max_resource={self.max_resource}; report at most up to "
                "max_resource or raise max_resource"
            )
