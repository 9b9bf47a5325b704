"""Asynchronous Hyperband: several ASHA brackets of different aggressiveness, side by side."""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from raysweep.scheduling._asha_promote import PromoteState
from raysweep.scheduling._asha_stop import StopState
from raysweep.scheduling._base import SchedulerState, as_int, check_maximize, check_report
from raysweep.scheduling._decision import Decision, Promotion
from raysweep.scheduling._hyperband_brackets import (
    bracket_count,
    bracket_rungs,
    bracket_sequence,
)
from raysweep.scheduling._ladder import LadderScheduler


@dataclass(frozen=True, kw_only=True)
class Hyperband(LadderScheduler):
    """Asynchronous Hyperband (Li et al. 2020): one ASHA per bracket, each trial in one bracket.

    Bracket s = 0, 1, ..., s_max is an ASHA (in this ``mode``) whose first rung is
    ``min_resource * reduction_factor**s``, s_max being the largest s for which that is at most
    ``max_resource``. Bracket 0 is the most aggressive (the most rungs); the last one may have
    no rung at all (its first rung would be ``max_resource``): its trials run to the end, plain
    random search, which guards against a ``min_resource`` too small to tell trials apart.
    ``brackets`` keeps brackets 0 .. brackets-1 (default, and the value stored when None is
    given: all s_max + 1).

    :meth:`bracket` assigns trials so that the brackets spend about the same budget. A trial in
    bracket s is expected to use ``E_s = r_0 + sum_i (r_{i+1} - r_i) / η**(i+1)`` steps, with
    the bracket's rungs ``r_0 < ... < r_{m-1}`` and ``r_m = max_resource`` (each rung keeps
    1/η; ``E_s = max_resource`` without rungs), so bracket s gets weight ``w_s ∝ 1 / E_s``.
    Trials 0, 1, 2, ... go to brackets by smooth weighted round robin over those weights, exact
    integers: every bracket's credit grows by its weight, the bracket with the largest credit
    (ties to the lower s) gets the trial and loses the total weight from its credit. The result
    depends on the trial number and the configuration only, so it survives restarts.

    Each bracket judges its own trials only. In promote mode :meth:`SchedulerState.promotion`
    picks, among the brackets' candidates, the one at the highest rung (the closest to a
    full-budget result), ties to the lower bracket.
    """

    json_type: ClassVar[str] = "hyperband"

    brackets: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        most = bracket_count(self.min_resource, self.max_resource, self.reduction_factor)
        if self.brackets is None:
            object.__setattr__(self, "brackets", most)
            return
        brackets = as_int(type(self).__name__, "brackets", self.brackets, "an int or None")
        object.__setattr__(self, "brackets", brackets)
        if not 1 <= brackets <= most:
            raise ValueError(
                f"Hyperband brackets must be between 1 and {most} for min_resource="
                f"{self.min_resource}, max_resource={self.max_resource}, reduction_factor="
                f"{self.reduction_factor} (bracket s starts at min_resource * "
                f"{self.reduction_factor}**s, which must not exceed max_resource), got "
                f"{brackets}; pass None for all {most}"
            )

    def bracket_rungs(self, bracket: int) -> tuple[int, ...]:
        """The rungs of bracket ``bracket`` (0-based), possibly none."""
        if isinstance(bracket, bool) or not isinstance(bracket, numbers.Integral):
            raise TypeError(f"bracket must be an int, got {bracket!r} ({type(bracket).__name__})")
        if not 0 <= bracket < self._count():
            raise ValueError(
                f"bracket {bracket} does not exist; this Hyperband has brackets 0 to "
                f"{self._count() - 1}"
            )
        return bracket_rungs(self.min_resource, self.max_resource, self.reduction_factor, bracket)

    def bracket(self, trial: int) -> int:
        """The bracket of trial number ``trial``; see the class docstring for the rule."""
        if isinstance(trial, bool) or not isinstance(trial, numbers.Integral):
            raise TypeError(f"trial must be an int, got {trial!r} ({type(trial).__name__})")
        if trial < 0:
            raise ValueError(f"trial must be at least 0, got {trial}")
        sequence = bracket_sequence(
            self.min_resource, self.max_resource, self.reduction_factor, self._count()
        )
        return sequence[int(trial)]

    def decision_steps(self) -> tuple[int, ...]:
        steps = {step for s in range(self._count()) for step in self.bracket_rungs(s)}
        return tuple(sorted(steps))

    def new_state(self, *, maximize: bool) -> SchedulerState:
        check_maximize(maximize)
        return _HyperbandState(self, maximize=maximize)

    def _count(self) -> int:
        assert self.brackets is not None  # set in __post_init__
        return self.brackets


class _HyperbandState(SchedulerState):
    """One ASHA state per bracket; each report and resumption goes to its trial's bracket."""

    def __init__(self, config: Hyperband, *, maximize: bool) -> None:
        self._config = config
        state = PromoteState if config.pauses else StopState
        self._states: list[SchedulerState] = [
            state(config, config.bracket_rungs(s), config.reduction_factor, maximize=maximize)
            for s in range(config._count())
        ]

    def on_report(self, trial: int, attempt: int, step: int, value: float) -> Decision:
        # Validated first: a bad trial number must fail as a bad report, not in bracket().
        check_report(self._config, trial, attempt, step, value)
        s = self._config.bracket(trial)
        decision = self._states[s].on_report(trial, attempt, step, value)
        return Decision(decision.action, f"bracket {s}: {decision.reason}", decision.rung)

    def promotion(
        self, *, final: bool = False, ready: Callable[[int], bool] | None = None
    ) -> Promotion | None:
        best: Promotion | None = None
        best_bracket = 0
        for s, state in enumerate(self._states):
            promotion = state.promotion(final=final, ready=ready)
            if promotion is not None and (best is None or promotion.rung > best.rung):
                best, best_bracket = promotion, s
        if best is None:
            return None
        return Promotion(best.trial, best.rung, f"bracket {best_bracket}: {best.reason}")

    def on_resume(self, trial: int) -> None:
        self._states[self._config.bracket(trial)].on_resume(trial)

    def saved(self) -> dict[str, Any] | None:
        brackets = [state.saved() for state in self._states]
        if any(bracket is None for bracket in brackets):
            return None
        return {"state": "Hyperband", "brackets": brackets}

    def restore(self, data: dict[str, Any]) -> None:
        if data.get("state") != "Hyperband" or len(data["brackets"]) != len(self._states):
            raise ValueError("not a saved state of this Hyperband's brackets")
        for state, bracket in zip(self._states, data["brackets"], strict=True):
            state.restore(bracket)
