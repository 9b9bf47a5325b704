"""The scheduler contract: an immutable configuration that makes mutable per-study state."""

from __future__ import annotations

import abc
import dataclasses
import numbers
from bisect import bisect_right
from collections.abc import Callable
from typing import Any, ClassVar

from raysweep.scheduling._decision import Decision, Promotion


class Scheduler(abc.ABC):
    """An immutable, validated scheduler configuration.

    Subclasses take keyword-only arguments, validate them on construction (``TypeError`` for a
    wrong type, ``ValueError`` for a wrong value, each saying what to fix), compare equal by
    value, and hold no study state: :meth:`new_state` makes that, so one configuration can serve
    any number of studies, and a study's state can always be rebuilt from scratch.

    Steps are positive ints counted per attempt: a trial's re-run starts again from step 1.

    A subclass that is a dataclass and names its ``json_type`` gets :meth:`to_json` for free.
    """

    json_type: ClassVar[str]
    """The ``"type"`` of the JSON form, which ``scheduler_from_json`` reads back."""

    @abc.abstractmethod
    def decision_steps(self) -> tuple[int, ...]:
        """The sorted steps at which a report can change a decision; empty for no pruning.

        A rule with no last decision step (checked every few steps, no ``max_resource``)
        returns () too, and overrides :meth:`next_decision_step`, which is what runners use.

        A report is *crossing* when its step is at or past one of these steps that no earlier
        report of the same attempt reached. Only a crossing report can get anything but a plain
        ``CONTINUE`` with ``rung=None``, so a runner may send the other reports without waiting
        for the answer.
        """

    def next_decision_step(self, step: int) -> int | None:
        """The smallest decision step strictly above ``step`` (0: the first one), or None.

        A runner waits for the answer to a report only when the report reaches this step.
        Schedulers with an unbounded set of decision steps (a stopping rule checked every few
        steps) override this and :meth:`decision_steps` alike.
        """
        steps = self.decision_steps()
        index = bisect_right(steps, step)
        return steps[index] if index < len(steps) else None

    def fidelities(self) -> tuple[int, ...]:
        """The sorted steps at which trials are compared, plus the full budget when known.

        A multi-fidelity sampler models the results at these steps (the rungs, and
        ``max_resource`` for a completed trial). Empty when the scheduler compares no steps.
        """
        return self.decision_steps()

    def bracket(self, trial: int) -> int | None:
        """The bracket trial number ``trial`` belongs to (Hyperband), or None.

        A pure function of the trial number, so that it is the same after a restart; the
        orchestrator records it when the trial is created.
        """
        return None

    @property
    def pauses(self) -> bool:
        """Whether this scheduler answers PAUSE and resumes paused trials (promote mode)."""
        return False

    @abc.abstractmethod
    def new_state(self, *, maximize: bool) -> SchedulerState:
        """Fresh state for one study whose objective is maximised (or minimised)."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict with a ``"type"`` key; ``scheduler_from_json`` reads it back.

        ``json_type``, then every constructor field of the dataclass with its validated value, in
        declaration order. Read from the fields, not written by hand, so that no argument can be
        left out of the study's log.
        """
        owner = type(self).__name__
        if not dataclasses.is_dataclass(self) or not hasattr(self, "json_type"):
            raise TypeError(
                f"{owner} must be a dataclass with a json_type to inherit to_json; "
                "make it one, or override to_json"
            )
        fields = (f.name for f in dataclasses.fields(self) if f.init)
        return {"type": self.json_type, **{name: getattr(self, name) for name in fields}}

    def validate_step(self, step: int) -> None:
        """Raise ``TypeError`` / ``ValueError`` for a step this scheduler cannot accept.

        The base rule, shared by every scheduler so that switching schedulers never turns valid
        reports into errors: a step is an int (not a bool) of at least 1.
        """
        if type(step) is not int and (
            isinstance(step, bool) or not isinstance(step, numbers.Integral)
        ):
            raise TypeError(f"step must be an int, got {step!r} ({type(step).__name__})")
        if step < 1:
            raise ValueError(f"step {step} is below 1; steps count from 1 in each attempt")


class SchedulerState(abc.ABC):
    """The mutable state of one study's scheduler, fed one report at a time.

    The state is a deterministic function of the sequence of ``on_report`` calls made on it and
    of the configuration and direction it was made with: it reads no clock and draws no random
    numbers, so replaying the reports from the event log into a fresh state gives the same
    decisions, reasons included. The replay is what defines it; a state may also be saved as a
    cache of that replay (:meth:`saved`, :meth:`restore`), so that a large study reopens without
    judging every report again.
    """

    def saved(self) -> dict[str, Any] | None:
        """This state as JSON data (NaN and infinities as Python's ``json`` writes them) from
        which :meth:`restore` makes an equal state; None if this scheduler saves nothing (it
        is then rebuilt by replaying its reports)."""
        return None

    def restore(self, data: dict[str, Any]) -> None:
        """Make this fresh state (no report yet) the one ``data`` (from :meth:`saved` of a
        state of the same configuration and direction) describes. ``ValueError`` if the data
        is not such, leaving this state unusable: make another and replay the reports."""
        raise ValueError(f"{type(self).__name__} does not restore a saved state")

    @abc.abstractmethod
    def on_report(self, trial: int, attempt: int, step: int, value: float) -> Decision:
        """Record one intermediate value and decide what the trial does next.

        ``trial`` is the trial number, ``attempt`` counts re-runs of that trial (an interrupted
        trial run again keeps its number and gets a higher attempt), ``step`` counts from 1 in
        each attempt, ``value`` is the objective so far (NaN allowed: it counts as the worst
        value). Invalid arguments raise ``TypeError`` / ``ValueError`` and change nothing.
        """

    def promotion(
        self, *, final: bool = False, ready: Callable[[int], bool] | None = None
    ) -> Promotion | None:
        """The paused trial that should be resumed now, if one has earned it (else None).

        A query: it changes nothing. The orchestrator asks whenever a runner is free, before it
        starts a new trial, and calls :meth:`on_resume` once it has resumed the trial.
        ``final``: no new trial will start (the study's number of trials is reached), so the
        rungs will not grow any more; a scheduler that waits for more trials before promoting
        should then promote what it would otherwise wait on.
        ``ready``: which paused trials can be resumed now (None: all). A trial told to pause is
        not resumable until its checkpoint is saved; one that is not ready is passed over and
        stays paused, to be named once it is, never given up.
        """
        return None

    def promotions(
        self,
        *,
        final: bool = False,
        ready: Callable[[int], bool] | None = None,
        limit: int = 16,
    ) -> list[Promotion]:
        """Every paused trial that could be resumed now (at most ``limit``), in the order
        :meth:`promotion` names them: the first is its answer, each next one its answer were
        those before it not ready. A query, like :meth:`promotion`.

        The orchestrator places several at once: a promotion waiting for hardware that is
        busy must not hold up one that an idle runner can take.
        """
        found: list[Promotion] = []
        named: set[int] = set()

        def still_ready(number: int) -> bool:
            return number not in named and (ready is None or ready(number))

        while len(found) < limit:
            promotion = self.promotion(final=final, ready=still_ready)
            if promotion is None:
                break
            found.append(promotion)
            named.add(promotion.trial)
        return found

    def on_resume(self, trial: int) -> None:
        """Record that paused trial ``trial`` was resumed (named by :meth:`promotion`).

        Replayed from the log in order with the reports, so a rebuilt state makes the same
        future decisions. ``ValueError`` for a trial that is not paused.
        """
        raise ValueError(f"trial {trial} cannot be resumed: this scheduler never pauses trials")


def as_int(owner: str, name: str, value: object, wanted: str = "an int") -> int:
    """``value`` of argument ``name`` as a plain int; ``TypeError`` for a bool or a non-int.

    A numpy int passes, converted, since the JSON form of the configuration needs a plain int.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{owner} {name} must be {wanted}, got {value!r} ({type(value).__name__})")
    return int(value)


def check_maximize(maximize: object) -> None:
    """``TypeError`` unless ``maximize`` (of :meth:`Scheduler.new_state`) is a bool."""
    if not isinstance(maximize, bool):
        raise TypeError(f"maximize must be a bool, got {maximize!r}")


def check_report(scheduler: Scheduler, trial: int, attempt: int, step: int, value: float) -> float:
    """Validate one report's arguments; return the value as a float."""
    # Plain ints and floats first: the ABC checks below cost microseconds, and a reopen tells
    # the pruner thousands of reports.
    plain = type(trial) is int and type(attempt) is int and trial >= 0 and attempt >= 0
    if not plain:
        for name, number in (("trial", trial), ("attempt", attempt)):
            if isinstance(number, bool) or not isinstance(number, numbers.Integral):
                raise TypeError(f"{name} must be an int, got {number!r} ({type(number).__name__})")
            if number < 0:
                raise ValueError(f"{name} must be at least 0, got {number}")
    scheduler.validate_step(step)
    if type(value) is float:
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"value must be a real number, got {value!r} ({type(value).__name__})")
    return float(value)
