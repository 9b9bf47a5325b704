"""A discrete-event simulator that runs a scheduler on learning curves with N workers.

The model. A study has ``n_workers`` workers. A busy worker runs one step of one trial at a
time: step ``k`` of a trial with config ``c`` takes ``seconds`` of simulated time and then
reports ``value``, where ``(value, seconds) = curve(c, k)``, asked when the step starts. Steps
finish in time order (equal times: the lower worker index first). Every finished step costs one
epoch and is reported to the scheduler state with ``on_report(trial, 0, step, value)``: the
simulator never interrupts a trial, so the attempt is always 0. The decision then applies:

* CONTINUE: the worker starts the next step at once, or the trial is complete at ``max_steps``.
* STOP: the trial is stopped (even at ``max_steps``: the scheduler pruned it) and the worker is
  free.
* PAUSE: the trial is paused with a checkpoint at that step and the worker is free. A pause
  itself costs no time.

A free worker first asks the state for a :meth:`~SchedulerState.promotion`; when it names a
paused trial the simulator calls ``on_resume`` and the worker resumes that trial right away: from
the step after the pause when ``checkpoints`` is true (a resume then costs nothing but the
remaining steps), else from step 1, so the steps before the pause are run, counted and reported
again (``repeated_epochs``). Otherwise the worker creates trial number ``n`` with config
``propose(n, trials)`` (``trials``: a snapshot of trials 0..n-1) and starts its step 1, unless
``max_trials`` trials exist; then it stays idle. Because a later report can make a promotion
available, idle workers are offered work again, in index order, after every decision (the
worker that reported picks first).

No step starts once ``max_epochs`` steps were started or the worker's clock is past
``max_time`` (checked before the worker asks for a job; the job's first step then starts even if
the calls it took passed ``max_time``); steps already running finish and are reported, and a
trial cut short this way stays ``"running"``. The simulation ends when no worker
is busy. With a ``timer`` (such as ``time.perf_counter``), the real seconds spent in each call
to the scheduler state and to ``propose`` are added to the simulated clock of the worker that
waited for the call, and summed in ``decision_seconds`` / ``propose_seconds``; idle workers
offered work after a report start from the time that report's decision was known. Everything
else is a pure function of the arguments: no clock of its own, no randomness, no I/O.
"""

from __future__ import annotations

import heapq
from bisect import insort
from collections.abc import Callable, Sequence
from types import MappingProxyType
from typing import Any

from raysweep.scheduling._base import Scheduler
from raysweep.scheduling._decision import Action
from raysweep.scheduling._simulation import Completion, SimulatedTrial, Simulation, StepEvent
from raysweep.scheduling._simulator_args import check_simulation_arguments, check_step

Curve = Callable[[Any, int], tuple[float, float]]
Propose = Callable[[int, Sequence[SimulatedTrial]], Any]

_ACTION_VALUES = {action: action.value for action in Action}


def simulate(
    scheduler: Scheduler,
    *,
    curve: Curve,
    propose: Propose,
    n_workers: int,
    max_steps: int,
    maximize: bool,
    max_trials: int | None = None,
    max_epochs: int | None = None,
    max_time: float | None = None,
    checkpoints: bool = True,
    timer: Callable[[], float] | None = None,
) -> Simulation:
    """Run ``scheduler`` on simulated trials; see the module docstring for the model.

    ``curve(config, step)`` gives ``(value after that step, seconds the step takes)``;
    ``propose(number, trials)`` gives the config of a new trial; ``max_steps`` is a trial's full
    budget (a trial reaching it is complete). At least one of ``max_trials``, ``max_epochs``
    and ``max_time`` must be given. ``checkpoints=False`` restarts a resumed trial from step 1.
    ``timer`` adds the real time of the scheduler's and ``propose``'s calls to the simulated
    clock. Errors raised by ``curve``, ``propose`` or the scheduler propagate unchanged.
    """
    check_simulation_arguments(
        scheduler,
        curve=curve,
        propose=propose,
        n_workers=n_workers,
        max_steps=max_steps,
        maximize=maximize,
        max_trials=max_trials,
        max_epochs=max_epochs,
        max_time=max_time,
        checkpoints=checkpoints,
        timer=timer,
    )
    return _Run(
        scheduler,
        curve=curve,
        propose=propose,
        max_steps=int(max_steps),
        maximize=maximize,
        max_trials=max_trials,
        max_epochs=max_epochs,
        max_time=None if max_time is None else float(max_time),
        checkpoints=checkpoints,
        timer=timer,
    ).run(int(n_workers))


class _Run:
    """One simulation's mutable bookkeeping; trials are indexed by number in the lists."""

    def __init__(
        self,
        scheduler: Scheduler,
        *,
        curve: Curve,
        propose: Propose,
        max_steps: int,
        maximize: bool,
        max_trials: int | None,
        max_epochs: int | None,
        max_time: float | None,
        checkpoints: bool,
        timer: Callable[[], float] | None,
    ) -> None:
        self._state = scheduler.new_state(maximize=maximize)
        self._curve = curve
        self._propose = propose
        self._max_steps = max_steps
        self._maximize = maximize
        self._max_trials = max_trials
        self._max_epochs = max_epochs
        self._max_time = max_time
        self._checkpoints = checkpoints
        self._timer = timer
        # Only a time limit ends the run when steps cost nothing: insist that they cost time.
        self._zero_seconds_ok = max_trials is not None or max_epochs is not None
        self._configs: list[Any] = []
        self._status: list[str] = []
        self._values: list[dict[int, float]] = []
        self._resumes: list[int] = []
        self._highest: list[int] = []
        self._paused_at: dict[int, int] = {}
        self._snapshots: list[SimulatedTrial] = []
        self._dirty: set[int] = set()
        # (finish time, worker, trial, step, value): a worker runs one step at a time, so the
        # (time, worker) prefix is unique and breaks ties by worker index.
        self._heap: list[tuple[float, int, int, int, float]] = []
        self._idle: list[int] = []
        self._started = 0
        self._n_resumes = 0
        self._decision_seconds = 0.0
        self._propose_seconds = 0.0
        self._end_time = 0.0
        self._rows: list[tuple[float, int, int, int, int, float, str]] = []
        self._completions: list[Completion] = []

    def run(self, n_workers: int) -> Simulation:
        for worker in range(n_workers):
            if not self._offer(worker, 0.0):
                self._idle.append(worker)
        # The hot loop: locals instead of attributes, and only the common case (a report that
        # continues to a next step that may start) inline; the rest goes through _settle.
        heap, pop, on_report, timer = self._heap, heapq.heappop, self._state.on_report, self._timer
        values, highest, dirty, rows = self._values, self._highest, self._dirty, self._rows
        max_steps, max_epochs, max_time = self._max_steps, self._max_epochs, self._max_time
        idle, continue_ = self._idle, Action.CONTINUE
        epochs = repeated = 0
        while heap:
            time, worker, trial, step, value = pop(heap)
            epochs += 1
            if step > highest[trial]:
                highest[trial] = step
            else:
                repeated += 1
            values[trial][step] = value
            dirty.add(trial)
            if timer is None:
                decision = on_report(trial, 0, step, value)
                now = time
            else:
                start = timer()
                decision = on_report(trial, 0, step, value)
                now = time + self._spent(start, decision=True)
            action = decision.action
            rows.append((time, epochs, worker, trial, step, value, _ACTION_VALUES[action]))
            if (
                action is continue_
                and step < max_steps
                and (max_epochs is None or self._started < max_epochs)
                and (max_time is None or now <= max_time)
            ):
                self._start(worker, trial, step + 1, now)
            elif not self._settle(worker, trial, step, value, action, time, now, epochs):
                continue  # nothing for this worker, so nothing for the idle ones either
            # Idle workers learn of the decision when it is known, not after the reporter's calls.
            while idle and self._offer(idle[0], now):
                del idle[0]
        return Simulation(
            trials=self._snapshot(),
            events=tuple(StepEvent(*row) for row in rows),
            completions=tuple(self._completions),
            end_time=self._end_time,
            epochs=epochs,
            repeated_epochs=repeated,
            resumes=self._n_resumes,
            decision_seconds=self._decision_seconds,
            propose_seconds=self._propose_seconds,
            maximize=self._maximize,
        )

    def _settle(
        self,
        worker: int,
        trial: int,
        step: int,
        value: float,
        action: Action,
        time: float,
        now: float,
        epochs: int,
    ) -> bool:
        """Apply a decision that frees ``worker``; whether the worker found a next job."""
        if now > self._end_time:
            self._end_time = now
        if action is Action.CONTINUE:
            if step >= self._max_steps:
                self._status[trial] = "complete"
                self._completions.append(Completion(time, epochs, trial, value))
            # else: the budget ran out; the trial stays "running" with steps left.
        elif action is Action.STOP:
            self._status[trial] = "stopped"
        else:
            if step >= self._max_steps:
                raise RuntimeError(
                    f"the scheduler paused trial {trial} at its last step {step} (max_steps): "
                    "there is nothing left to resume; its decision steps must lie below "
                    "max_steps"
                )
            self._status[trial] = "paused"
            self._paused_at[trial] = step
        if self._offer(worker, now):
            return True
        insort(self._idle, worker)
        return False

    def _offer(self, worker: int, now: float) -> bool:
        """Give ``worker`` its next job at ``now``: a promotion, else a new trial."""
        if not self._may_start(now):
            return False
        timer = self._timer
        start = 0.0 if timer is None else timer()
        final = self._max_trials is not None and len(self._status) >= self._max_trials
        promotion = self._state.promotion(final=final)
        if timer is not None:
            now += self._spent(start, decision=True)
        if promotion is not None:
            trial = promotion.trial
            paused_step = self._paused_at.pop(trial, None)
            if paused_step is None:
                raise RuntimeError(
                    f"the scheduler promoted trial {trial}, which is not paused "
                    f"({self._status[trial] if 0 <= trial < len(self._status) else 'unknown'})"
                )
            start = 0.0 if timer is None else timer()
            self._state.on_resume(trial)
            if timer is not None:
                now += self._spent(start, decision=True)
            self._status[trial] = "running"
            self._resumes[trial] += 1
            self._n_resumes += 1
            self._dirty.add(trial)
            self._start(worker, trial, paused_step + 1 if self._checkpoints else 1, now)
            return True
        number = len(self._configs)
        if self._max_trials is not None and number >= self._max_trials:
            self._end_time = max(self._end_time, now)
            return False
        trials = self._snapshot()
        start = 0.0 if timer is None else timer()
        config = self._propose(number, trials)
        if timer is not None:
            now += self._spent(start, decision=False)
        self._configs.append(config)
        self._status.append("running")
        self._values.append({})
        self._resumes.append(0)
        self._highest.append(0)
        self._snapshots.append(SimulatedTrial(number, config, "running", MappingProxyType({}), 0))
        self._start(worker, number, 1, now)
        return True

    def _may_start(self, now: float) -> bool:
        if self._max_epochs is not None and self._started >= self._max_epochs:
            return False
        return self._max_time is None or now <= self._max_time

    def _start(self, worker: int, trial: int, step: int, now: float) -> None:
        value, seconds = check_step(
            self._curve(self._configs[trial], step), trial, step, self._zero_seconds_ok
        )
        self._started += 1
        heapq.heappush(self._heap, (now + seconds, worker, trial, step, value))

    def _spent(self, start: float, *, decision: bool) -> float:
        assert self._timer is not None
        elapsed = float(self._timer()) - float(start)
        if not elapsed >= 0.0:
            raise ValueError(
                f"the timer went backwards ({elapsed} seconds); pass a monotonic clock such as "
                "time.perf_counter"
            )
        if decision:
            self._decision_seconds += elapsed
        else:
            self._propose_seconds += elapsed
        return elapsed

    def _snapshot(self) -> tuple[SimulatedTrial, ...]:
        """Frozen snapshots of all trials; only those changed since the last call are rebuilt."""
        for trial in self._dirty:
            self._snapshots[trial] = SimulatedTrial(
                trial,
                self._configs[trial],
                self._status[trial],
                MappingProxyType(dict(self._values[trial])),
                self._resumes[trial],
            )
        self._dirty.clear()
        return tuple(self._snapshots)
