"""`Trial`: the handle an objective receives, in Optuna's define-by-run style.

A parameter the up-front proposal already covers is answered here, with no round trip; so is a
report whose step crosses no rung, which waits in the batch for the next message. Only a
parameter met for the first time, a report at a rung and the end of the trial reach the
TrialScheduler while the objective waits.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from raysweep.orchestrator._core import _limits
from raysweep.orchestrator._core._hardware_use import EnergyMeter, TrialEnergy
from raysweep.orchestrator._core._protocol import (
    Assignment,
    Note,
    ParamNote,
    Placement,
    ReportNote,
    UserAttrNote,
)
from raysweep.orchestrator._errors import (
    ObjectiveUsageError,
    TrialInterrupted,
    TrialPaused,
    TrialPruned,
)
from raysweep.samplers import (
    CategoricalChoice,
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IncompatibleDistributionError,
    IntDistribution,
)
from raysweep.scheduling import Action, Decision

_T = TypeVar("_T")


class TrialLink(Protocol):
    """How a trial reaches the TrialScheduler: from a runner, or from an ask/tell caller."""

    def suggest(self, name: str, distribution: Distribution, notes: tuple[Note, ...]) -> Any: ...

    def send(self, notes: tuple[Note, ...], *, wait: bool) -> Decision | None: ...

    def interrupted(self) -> bool: ...

    def flush_due(self) -> bool:
        """Whether reports that need no answer should be sent now rather than batched."""
        ...

    @property
    def raises_on_prune(self) -> bool: ...

    def save_checkpoint(self, step: int, state: Any) -> str:
        """Store the state a paused trial resumes from; returns where it lives (for the log).

        Raises ObjectiveUsageError, saying what to return instead, when it cannot be stored.
        """
        ...

    def load_checkpoint(self, step: int) -> Any:
        """Read back what `save_checkpoint` stored for this trial at `step`."""
        ...


class Trial:
    def __init__(
        self,
        assignment: Assignment,
        link: TrialLink,
        meter: EnergyMeter | None = None,
        hosts: Callable[[Callable[[int], Any]], list[Any]] | None = None,
    ) -> None:
        self._a = assignment
        self._link = link
        self._meter = meter
        # Runs a function on every host of the attempt's TPU slice (None: it has none).
        self._hosts = hosts
        self._params: dict[str, Any] = dict(assignment.params)
        self._distributions: dict[str, Distribution] = dict(assignment.distributions)
        self._notes: list[Note] = []
        resume = assignment.resume
        self._checkpoint_step = resume.step if resume and resume.from_checkpoint else None
        # Reports up to the checkpoint's step were judged before the pause: none waits again.
        self._next_decision = assignment.scheduler.next_decision_step(self._checkpoint_step or 0)
        self._last_step: int | None = None
        self._loaded = False
        self._checkpoint_state: Any = None
        # Set when the scheduler paused the trial: (step, where its checkpoint was saved).
        self.paused: tuple[int, str | None] | None = None
        self._last_decision: Decision | None = None
        self._user_attrs: dict[str, Any] = {}
        self._constraints: tuple[float, ...] | None = None

    @property
    def number(self) -> int:
        return self._a.number

    @property
    def attempt(self) -> int:
        """0 for the first run of this trial; higher when an interrupted trial is re-run."""
        return self._a.attempt

    @property
    def placement(self) -> Placement | None:
        """Where this attempt runs: its runner, the resources it holds (on each host), its nodes
        (host 0 first), their accelerator type and TPU slice name. None for a trial from `ask`,
        which runs wherever its caller is."""
        return self._a.placement

    def run_on_hosts(self, fn: Callable[[int], _T]) -> list[_T]:
        """Run `fn(host_index)` on every host of this trial's TPU slice at once, each call
        holding that host's chips, and return the results in host order (host 0 first).

        An error `fn` raises on a host is raised here (the other hosts' calls are ended); a
        host lost meanwhile ends the attempt, which is re-run on a whole slice from its last
        checkpoint. `fn` travels to the hosts by pickling, like any Ray task.
        """
        if not callable(fn):
            raise TypeError(f"run_on_hosts takes a function of the host index, not {fn!r}")
        if self._hosts is None:
            raise ObjectiveUsageError(
                f"trial {self.number} runs on {self._where()}, not on a TPU slice, so it has no "
                "hosts to run on: ask for one with optimize(resources=TPUSlice(version=..., "
                "topology=...)), or check trial.placement.slice_name before calling "
                "run_on_hosts (a list of alternatives may place a trial elsewhere)"
            )
        return self._hosts(fn)

    def _where(self) -> str:
        placement = self._a.placement
        if placement is None:
            return "its caller's machine (a trial from ask)"
        amounts = ", ".join(f"{k}: {v:g}" for k, v in sorted(placement.resources.items()))
        return "{" + amounts + "}"

    def energy(self) -> TrialEnergy:
        """The energy this trial is attributed so far, its earlier attempts included: CPU
        (RAPL) and GPU (NVML) counters apportioned by the trial's share of the devices. A
        figure is None where the hardware does not report it (no readable counter); it is
        never guessed. Return it as an objective value (`directions=[..., "minimize"]`) or
        a constraint to trade quality against energy."""
        return TrialEnergy.of(
            self._a.energy_before, None if self._meter is None else self._meter.read()
        )

    @property
    def params(self) -> dict[str, Any]:
        return dict(self._params)

    @property
    def checkpoint_step(self) -> int | None:
        """The step of the checkpoint this run resumes from; None when it starts from scratch."""
        return self._checkpoint_step

    def checkpoint(self) -> Any:
        """The state saved when this trial last paused, or None when it starts from scratch.

        In promote mode a trial that pauses at a rung hands over its state through
        ``report(..., checkpoint=...)``; when the scheduler promotes it, it runs again and
        continues from here (training resumes at step ``checkpoint_step + 1``). None also when
        the pause gave no checkpoint: the trial then trains from step 1 again, and the study's
        `resource_usage()` counts the repeated steps.
        """
        if self._checkpoint_step is None:
            return None
        if not self._loaded:
            self._checkpoint_state = self._link.load_checkpoint(self._checkpoint_step)
            self._loaded = True
        return self._checkpoint_state

    @property
    def distributions(self) -> dict[str, Distribution]:
        return dict(self._distributions)

    @property
    def user_attrs(self) -> dict[str, Any]:
        return dict(self._user_attrs)

    # ----- suggestions --------------------------------------------------------------------------

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        value = self._suggest(name, FloatDistribution(low=low, high=high, log=log, step=step))
        return float(value)

    def suggest_int(
        self, name: str, low: int, high: int, *, step: int = 1, log: bool = False
    ) -> int:
        return int(self._suggest(name, IntDistribution(low=low, high=high, log=log, step=step)))

    def suggest_categorical(
        self, name: str, choices: Sequence[CategoricalChoice]
    ) -> CategoricalChoice:
        choice: CategoricalChoice = self._suggest(name, CategoricalDistribution(choices=choices))
        return choice

    def _suggest(self, name: str, distribution: Distribution) -> Any:
        if not isinstance(name, str) or not name:
            raise ObjectiveUsageError(f"a parameter name must be a non-empty string, not {name!r}")
        if len(name) > _limits.MAX_PARAM_NAME_CHARS:
            raise ObjectiveUsageError(
                f"a parameter name of {len(name)} characters ({name[:40]!r}...) is too long: "
                f"names are at most {_limits.MAX_PARAM_NAME_CHARS} characters; use a short "
                "name, and record details with trial.set_user_attr"
            )
        known = self._distributions.get(name)
        if known is not None:
            if known != distribution:
                raise IncompatibleDistributionError(
                    f"parameter {name!r} was already suggested in trial {self.number} as "
                    f"{known}; suggesting it again as {distribution} is ambiguous: use one "
                    "definition, or another name"
                )
            return self._params[name]
        proposed = self._a.proposal.get(name)
        if proposed is not None and proposed[0] == distribution:
            value = proposed[1]
            self._notes.append(ParamNote(name, distribution, value))
        else:
            value = self._link.suggest(name, distribution, self.take_notes())
        self._params[name] = value
        self._distributions[name] = distribution
        return value

    # ----- reports ------------------------------------------------------------------------------

    def report(
        self, value: float, step: int, *, checkpoint: Callable[[], Any] | None = None
    ) -> None:
        """Record the objective's value at `step` (an epoch, say).

        Inside `Study.optimize` this raises `TrialPruned` when the scheduler stops the trial;
        ask/tell callers check `should_prune()` instead. In promote mode the scheduler may
        pause the trial here: then `checkpoint()` is called (only then) for the state to
        resume from, the state is saved beside the study's log, and this raises `TrialPaused`
        (a BaseException) so that the runner frees its hardware for other work.
        """
        if checkpoint is not None and not callable(checkpoint):
            raise ObjectiveUsageError(
                "checkpoint must be a function returning the state to resume from (it is "
                "called only when the trial pauses), e.g. checkpoint=lambda: "
                f"{{'model': model.state_dict(), 'epoch': epoch}}; got {type(checkpoint).__name__}"
            )
        if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 1:
            raise ObjectiveUsageError(f"step must be an int ≥ 1, not {step!r}")
        step = int(step)
        if self._last_step is not None and step <= self._last_step:
            raise ObjectiveUsageError(
                f"trial {self.number} reported step {step} after step {self._last_step}; "
                "steps must increase (report each step once, in order)"
            )
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ObjectiveUsageError(
                f"a reported value must be a number, not {type(value).__name__}"
            )
        try:
            self._a.scheduler.validate_step(step)
        except ValueError as exc:
            raise ObjectiveUsageError(str(exc)) from None
        if self._link.interrupted():
            raise TrialInterrupted(f"trial {self.number} was asked to stop")
        self._last_step = step
        self._notes.append(ReportNote(step, float(value)))
        crosses = self._next_decision is not None and self._next_decision <= step
        if crosses:
            self._next_decision = self._a.scheduler.next_decision_step(step)
            decision = self._link.send(self.take_notes(), wait=True)
            if decision is not None:
                self._last_decision = decision
                if decision.action is Action.STOP and self._link.raises_on_prune:
                    raise TrialPruned(decision.reason)
                if decision.action is Action.PAUSE:
                    self._pause(step, checkpoint, decision.reason)
        elif self._link.flush_due():
            self._link.send(self.take_notes(), wait=False)

    def _pause(self, step: int, checkpoint: Callable[[], Any] | None, reason: str) -> None:
        location = None
        if checkpoint is not None:
            location = self._link.save_checkpoint(step, checkpoint())
        self.paused = (step, location)
        raise TrialPaused(reason)

    def should_prune(self) -> bool:
        """True when the scheduler decided, at the last rung reported, to stop this trial."""
        return self._last_decision is not None and self._last_decision.action is Action.STOP

    def set_user_attr(self, key: str, value: Any) -> None:
        if not isinstance(key, str) or not key:
            raise ObjectiveUsageError(
                f"a user attribute key must be a non-empty string, not {key!r}"
            )
        if len(key) > _limits.MAX_USER_ATTR_KEY_CHARS:
            raise ObjectiveUsageError(
                f"a user attribute key of {len(key)} characters ({key[:40]!r}...) is too long: "
                f"keys are at most {_limits.MAX_USER_ATTR_KEY_CHARS} characters"
            )
        try:
            encoded = json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ObjectiveUsageError(
                f"user attribute {key!r} must be JSON data (str, number, bool, None, list, "
                f"dict), not {type(value).__name__}: {exc}"
            ) from None
        size = len(encoded.encode())
        if size > _limits.MAX_USER_ATTR_VALUE_BYTES:
            # Every attribute is an event of the log, read back by every replay.
            raise ObjectiveUsageError(
                f"user attribute {key!r} is {size} bytes as JSON; a user attribute holds at most "
                f"{_limits.MAX_USER_ATTR_VALUE_BYTES} bytes. Keep large results (curves, "
                "predictions, models) in a file of your own and record its path here"
            )
        self._user_attrs[key] = value
        self._notes.append(UserAttrNote(key, value))

    def set_constraints(self, values: Sequence[float]) -> None:
        """Record this trial's constraint values: feasible when every one is <= 0.

        Call it before the objective returns (again to replace the values). Every trial of a
        study reports the same number of constraints; samplers that know constraints (TPE,
        NSGA-II, GP) steer towards feasible points, and `best_trial` only picks feasible ones.
        """
        self._constraints = constraint_values(values, self._a.n_constraints)

    @property
    def constraints(self) -> tuple[float, ...] | None:
        return self._constraints

    def take_notes(self) -> tuple[Note, ...]:
        """What the trial learned and has not sent yet; the caller sends it."""
        notes, self._notes = tuple(self._notes), []
        return notes


def objective_values(result: Any, n_objectives: int) -> tuple[float, ...]:
    """Check what an objective returned; raise ValueError saying what is wrong with it."""
    is_sequence = isinstance(result, Sequence) and not isinstance(result, (str, bytes))
    if n_objectives == 1 and is_sequence and len(result) == 1:
        result = result[0]  # [0.93] for a single objective, as Optuna's tell accepts
    items = result if n_objectives > 1 else (result,)
    if n_objectives > 1 and not is_sequence:
        raise ValueError(
            f"the study has {n_objectives} objectives; return a sequence of {n_objectives} "
            f"numbers, not {type(result).__name__}"
        )
    if len(items) != n_objectives:
        raise ValueError(
            f"the objective returned {len(items)} values; the study has {n_objectives}"
        )
    values = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, numbers.Real):
            raise ValueError(f"the objective returned {item!r}; return a finite number")
        value = float(item)
        if not math.isfinite(value):
            raise ValueError(f"the objective returned {value}; return a finite number")
        values.append(value)
    return tuple(values)


def constraint_values(values: Any, expected: int | None) -> tuple[float, ...]:
    """Check constraint values; raise ObjectiveUsageError saying what is wrong with them."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise ObjectiveUsageError(
            f"constraints must be a non-empty sequence of numbers (one per constraint, <= 0 when "
            f"satisfied), not {values!r}"
        )
    checked = []
    for index, item in enumerate(values):
        if isinstance(item, bool) or not isinstance(item, numbers.Real) or math.isnan(item):
            raise ObjectiveUsageError(
                f"constraints[{index}] is {item!r}; each constraint value must be a number, not "
                "NaN (<= 0 when satisfied, > 0 by how much it is violated)"
            )
        checked.append(float(item))
    if expected is not None and len(checked) != expected:
        raise ObjectiveUsageError(
            f"{len(checked)} constraint values given; this study's trials report {expected} "
            "(one per constraint, the same number in every trial)"
        )
    return tuple(checked)
