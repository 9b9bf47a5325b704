"""The geometric rung ladder shared by ASHA and Hyperband, and the checks on its arguments."""

from __future__ import annotations

import numbers

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


def check_ladder_arguments(
    owner: str, min_resource: int, max_resource: int, reduction_factor: int, mode: str
) -> None:
    """Raise ``TypeError`` / ``ValueError`` naming ``owner`` and what to pass instead."""
    for name, number in (
        ("min_resource", min_resource),
        ("max_resource", max_resource),
        ("reduction_factor", reduction_factor),
    ):
        if isinstance(number, bool) or not isinstance(number, numbers.Integral):
            raise TypeError(
                f"{owner} {name} must be an int, got {number!r} ({type(number).__name__})"
            )
    if min_resource < 1:
        raise ValueError(
            f"{owner} min_resource must be at least 1, got {min_resource}: it is the "
            "first step at which trials are compared"
        )
    if max_resource <= min_resource:
        raise ValueError(
            f"{owner} max_resource ({max_resource}) must be greater than min_resource "
            f"({min_resource}): raise max_resource to the step at which training ends, "
            "or lower min_resource"
        )
    if reduction_factor < 2:
        raise ValueError(
            f"{owner} reduction_factor must be at least 2, got {reduction_factor}: each "
            "rung keeps the best 1/reduction_factor of its trials (3 is the usual choice)"
        )
    if not isinstance(mode, str):
        raise TypeError(f"{owner} mode must be a str, got {mode!r}")
    if mode not in MODES:
        known = "; ".join(f"{name!r} ({what})" for name, what in MODES.items())
        raise ValueError(f"{owner} mode {mode!r} is unknown; pass one of {known}")
