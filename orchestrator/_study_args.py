"""Checks of the arguments of `create_study` and `Study.optimize`, with what to fix."""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence

from raysweep.samplers import Sampler, StudyDirection


def resolve_directions(
    direction: str | StudyDirection | None, directions: Sequence[str | StudyDirection] | None
) -> tuple[StudyDirection, ...]:
    if direction is not None and directions is not None:
        raise ValueError("pass direction= or directions=, not both")
    if directions is None:
        items: Sequence[str | StudyDirection] = ["minimize" if direction is None else direction]
    elif isinstance(directions, str) or not directions:
        raise ValueError("directions must be a non-empty list such as ['minimize', 'maximize']")
    else:
        items = directions
    resolved = []
    for item in items:
        try:
            resolved.append(StudyDirection(item))
        except ValueError:
            raise ValueError(f"direction must be 'minimize' or 'maximize', not {item!r}") from None
    return tuple(resolved)


def study_seed(seed: int | None, sampler: Sampler) -> tuple[int, bool]:
    for label, value in (("seed", seed), ("sampler.seed", sampler.seed)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"{label} must be an int, not {value!r}")
    if seed is not None and sampler.seed is not None and seed != sampler.seed:
        raise ValueError(
            f"two different seeds for one study: create_study(seed={seed}) and the sampler's "
            f"seed={sampler.seed}. One seed is the root of all randomness: give one of them"
        )
    if seed is not None:
        return seed, True
    if sampler.seed is not None:
        return sampler.seed, True
    return secrets.randbits(62), False


def check_n_trials(n_trials: int | None, timeout: float | None) -> int:
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not (math.isfinite(timeout) and timeout > 0)
    ):
        raise ValueError(f"timeout must be a number of seconds > 0, not {timeout!r}")
    if n_trials is None:
        return 2**62
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials <= 0:
        raise ValueError(
            f"n_trials must be an int ≥ 1 (the number of finished trials the study should "
            f"have in total), not {n_trials!r}"
        )
    return n_trials


def check_catch(
    catch: type[BaseException] | Sequence[type[BaseException]],
) -> tuple[type[BaseException], ...]:
    items = (catch,) if isinstance(catch, type) else tuple(catch)
    for item in items:
        if not (isinstance(item, type) and issubclass(item, BaseException)):
            raise TypeError(f"catch must hold exception classes, not {item!r}")
    return items
