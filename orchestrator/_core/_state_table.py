"""The study's state as a table, one row per trial: saved when the TrialScheduler closes, read
back instead of replaying every event when nothing was written since.

Replaying a 100,000-trial study decodes and applies about 1.7 million events; reading its
state is a row per trial. What is saved is exactly what the replay would rebuild: the
`StudyState` (every trial, the study-level counters) and what the pruner was told, in order,
from which the recorder rebuilds the pruner as it does from the log. The log stays the truth:
the storage hands a saved state back only where it stands for the whole log
(``_storage._log``), and every reader of the log ignores it.

Nested values (parameters, reports, user attributes, values) are JSON, one text per trial,
parsed in one go; distributions are saved once each and shared again on load.
"""

from __future__ import annotations

import json
import sys
from array import array
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from raysweep.orchestrator._core import _events as ev
from raysweep.orchestrator._core._state import ResourceUsage, StudyInfo, StudyState, _Trial
from raysweep.samplers import Distribution, TrialState
from raysweep.scheduling import SchedulerState

__all__ = ["COLUMN_KINDS", "StateToSave", "Told", "load_state", "save_state"]

# Bump when what a row or the study part means changes: a state of another version is not
# read, and the log is replayed instead (it is a cache, so nothing else is needed).
_VERSION = 1

# The trial columns and their kinds: "int", "float", "str", or a list of one of those
# ("ints", "floats", "strs"); every value may be None. Numbers are columns of their own, not
# JSON: parsing 100,000 trials' floats back from text would cost most of the reopen.
COLUMN_KINDS: dict[str, str] = {
    "number": "int",
    "origin": "str",
    "state": "str",
    "attempt": "int",
    "started": "float",
    "completed": "float",
    "error": "str",
    "runner": "str",
    "crashes": "int",
    "checkpoint_step": "int",
    "paused_step": "int",
    "high_step": "int",
    "told_by": "str",
    "values": "floats",
    "constraints": "floats",
    "report_steps": "ints",
    "report_values": "floats",
    # Parameters, and the up-front proposal, as parallel lists: the name, the distribution (an
    # index into the study's list of them), the value if it is a float, or else if it is an
    # int (None in the others), or else the next one of the JSON list in *_other. A proposal
    # that is the trial's parameters exactly (the usual case: the trial drew what it was
    # proposed) has None in all its columns.
    "param_names": "strs",
    "param_dists": "ints",
    "param_floats": "floats",
    "param_ints": "ints",
    "param_other": "str",
    "proposal_names": "strs",
    "proposal_dists": "ints",
    "proposal_floats": "floats",
    "proposal_ints": "ints",
    "proposal_other": "str",
    "user_attrs": "str",  # JSON; None: none
}
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_TOLD_BLOBS = ("told_trials", "told_attempts", "told_steps", "told_values")
_STATES = {state.value: state for state in TrialState}
# Trials built one cell at a time (tens of microseconds each) before the whole columns are
# converted (a fraction of a second at 100,000 trials) for the rest.
_CELL_BUILDS = 2_000


class Told:
    """What the pruner was told, in order: the judged reports and the resumptions.

    The pruner's decisions are a function of these alone (its state is never saved), so this
    is what a saved state keeps of it. Four flat arrays, 32 bytes per entry; a resumption has
    attempt -1.
    """

    def __init__(self) -> None:
        self.trials = array("q")
        self.attempts = array("q")
        self.steps = array("q")
        self.values = array("d")

    def __len__(self) -> int:
        return len(self.trials)

    def report(self, trial: int, attempt: int, step: int, value: float) -> None:
        self.trials.append(trial)
        self.attempts.append(attempt)
        self.steps.append(step)
        # The pruner takes float(value) of every report, so the float is all it ever sees.
        self.values.append(value)

    def resume(self, trial: int) -> None:
        self.trials.append(trial)
        self.attempts.append(-1)
        self.steps.append(0)
        self.values.append(0.0)

    def feed(self, pruner: SchedulerState) -> None:
        """Tell `pruner` everything, in order, as it was told while the study ran."""
        on_report, on_resume = pruner.on_report, pruner.on_resume
        for trial, attempt, step, value in zip(
            self.trials, self.attempts, self.steps, self.values, strict=True
        ):
            if attempt < 0:
                on_resume(trial)
            else:
                on_report(trial, attempt, step, value)

    def extend(self, other: Told) -> None:
        """What `other` was told, after what this one was."""
        for mine, theirs in zip(self._arrays(), other._arrays(), strict=True):
            mine.extend(theirs)

    def entries(self) -> Iterator[tuple[int, int, int, float]]:
        return zip(self.trials, self.attempts, self.steps, self.values, strict=True)

    def _arrays(self) -> tuple[array[Any], ...]:
        return (self.trials, self.attempts, self.steps, self.values)

    def to_blobs(self) -> dict[str, bytes]:
        # Little-endian on disk, whatever machine wrote it: a study moves (an object store).
        out = {}
        for name, values in zip(_TOLD_BLOBS, self._arrays(), strict=True):
            if sys.byteorder == "big":
                values = array(values.typecode, values)
                values.byteswap()
            out[name] = values.tobytes()
        return out

    @classmethod
    def from_blobs(cls, blobs: dict[str, bytes]) -> Told:
        told = cls()
        for name, values in zip(_TOLD_BLOBS, told._arrays(), strict=True):
            values.frombytes(blobs[name])
            if sys.byteorder == "big":
                values.byteswap()
        if len({len(told.trials), len(told.attempts), len(told.steps), len(told.values)}) > 1:
            raise ValueError("the pruner's inputs are not of one length")
        return told


@dataclass(frozen=True)
class StateToSave:
    """A state for the log to save (``StudyLog.save_state``): see ``_storage._saved_state``."""

    last_seq: int
    study: str
    columns: dict[str, list[Any]]
    kinds: dict[str, str]
    blobs: dict[str, bytes]


def save_state(state: StudyState, told: Told, pruner: dict[str, Any] | None) -> StateToSave:
    """The table of `state` (as of `state.last_seq`), of what the pruner was told, and of the
    pruner's own state (`SchedulerState.saved`: None where it saves none)."""
    assert state.info is not None
    index: dict[int, int] = {}  # id(distribution) -> its place in `dists`
    dists: list[Any] = []

    def place(dist: Distribution) -> int:
        at = index.get(id(dist))
        if at is None:
            at = index[id(dist)] = len(dists)
            dists.append(dist.to_json())
        return at

    columns: dict[str, list[Any]] = {name: [] for name in COLUMN_KINDS}
    add = [columns[name].append for name in COLUMN_KINDS]
    for trial in state.trials.values():
        params = _split(trial.params, trial.distributions, place)
        if _is_params(trial):
            proposal: tuple[Any, ...] = (None,) * 5
        else:
            proposal = _split(
                {name: value for name, (_, value) in trial.proposal.items()},
                {name: dist for name, (dist, _) in trial.proposal.items()},
                place,
            )
        row = (
            trial.number,
            trial.origin,
            trial.state.value,
            trial.attempt,
            trial.started,
            trial.completed,
            trial.error,
            trial.runner,
            trial.crashes,
            trial.checkpoint_step,
            trial.paused_step,
            trial.high_step,
            trial.told_by,
            None if trial.values is None else list(trial.values),
            None if trial.constraints is None else list(trial.constraints),
            list(trial.intermediate),
            list(trial.intermediate.values()),
            *params,
            *proposal,
            json.dumps(trial.user_attrs) if trial.user_attrs else None,
        )
        for append, value in zip(add, row, strict=True):
            append(value)
    study = {
        "version": _VERSION,
        "info": state.info.to_payload().to_json(),
        "next_number": state.next_number,
        "asked": state.asked,
        "latest": [[name, place(dist)] for name, dist in state.distributions.items()],
        "dists": dists,
        "optimize_target": state.optimize_target,
        "optimize_concurrency": state.optimize_concurrency,
        "optimizing": state.optimizing,
        "n_constraints": state.n_constraints,
        "usage": vars(state.usage),
        "best": state._best,
        "best_stale": state._best_stale,
        "pruner": pruner,
    }
    return StateToSave(
        state.last_seq, json.dumps(study), columns, dict(COLUMN_KINDS), told.to_blobs()
    )


def _is_params(trial: _Trial) -> bool:
    """Whether the trial's proposal is its parameters: the same names in the same order, the
    same distribution objects, values of the same type and equal."""
    proposal, params, dists = trial.proposal, trial.params, trial.distributions
    if not proposal or list(proposal) != list(params):
        return False
    return all(
        dist is dists[name] and type(value) is type(params[name]) and value == params[name]
        for name, (dist, value) in proposal.items()
    )


def _split(
    values: dict[str, Any], dists: dict[str, Distribution], place: Callable[[Distribution], int]
) -> tuple[list[str], list[int], list[float | None], list[int | None], str | None]:
    """Named values as the five parallel columns of COLUMN_KINDS (names, distributions,
    floats, ints, the JSON of the others)."""
    floats: list[float | None] = []
    ints: list[int | None] = []
    other: list[Any] = []
    for value in values.values():
        kind = type(value)  # exactly: a bool is no int here, and must come back a bool
        if kind is int and not _INT64_MIN <= value <= _INT64_MAX:
            kind = object  # too large for the int column: JSON keeps it exactly
        floats.append(value if kind is float else None)
        ints.append(value if kind is int else None)
        if kind is not float and kind is not int:
            other.append(value)
    names = list(values)
    at = [place(dists[name]) for name in names]
    return names, at, floats, ints, json.dumps(other) if other else None


class _Joiner:
    """Reads back what :func:`_split` wrote, sharing what repeats from trial to trial."""

    def __init__(self, dists: list[Distribution]) -> None:
        self._dists = dists
        # (names, distribution indices) -> the trial's name -> distribution dict, to copy.
        self._by_layout: dict[tuple[tuple[str, ...], tuple[int, ...]], dict[str, Distribution]] = {}

    def join(
        self,
        names: list[str],
        at: list[int],
        floats: list[float | None],
        ints: list[int | None],
        other: str | None,
    ) -> tuple[dict[str, Any], dict[str, Distribution]]:
        layout = (tuple(names), tuple(at))
        distributions = self._by_layout.get(layout)
        if distributions is None:
            dists = self._dists
            distributions = self._by_layout[layout] = {
                n: dists[i] for n, i in zip(names, at, strict=True)
            }
        rest = iter(json.loads(other)) if other is not None else iter(())
        values = {
            n: f if f is not None else i if i is not None else next(rest)
            for n, f, i in zip(names, floats, ints, strict=True)
        }
        return values, dict(distributions)


def load_state(
    last_seq: int, study_text: str, columns: Mapping[str, list[Any]], blobs: dict[str, bytes]
) -> tuple[StudyState, Told, dict[str, Any] | None]:
    """The state, the pruner's inputs and its saved state that :func:`save_state` saved;
    ValueError if they are not of this version (the caller replays the log instead)."""
    study = json.loads(study_text)
    if study.get("version") != _VERSION or set(columns) != set(COLUMN_KINDS):
        raise ValueError(f"not a saved state of version {_VERSION}")
    state = StudyState()
    state.info = StudyInfo.from_payload(ev.StudyCreated.from_json(study["info"]))
    read = state._distributions.read
    dists = [read(data) for data in study["dists"]]
    state.distributions = {name: dists[at] for name, at in study["latest"]}
    state.asked = study["asked"]
    state._next_number = study["next_number"]
    state.optimize_target = study["optimize_target"]
    state.optimize_concurrency = study["optimize_concurrency"]
    state.optimizing = study["optimizing"]
    state.n_constraints = study["n_constraints"]
    state.usage = ResourceUsage(**study["usage"])
    state._best, state._best_stale = study["best"], study["best_stale"]
    state.last_seq = last_seq

    # The trials stay rows until each is first needed (`TrialTable`): what a reopen needs at
    # once is only how many are in each state and which are unfinished.
    numbers = columns["number"]
    states, origins = columns["state"], columns["origin"]
    counted = Counter(states)
    unknown = set(counted) - set(_STATES)
    if unknown:
        raise ValueError(f"unknown trial states {sorted(unknown)}")
    state._by_state = {member: counted.get(name, 0) for name, member in _STATES.items()}
    waiting, running = TrialState.WAITING.value, TrialState.RUNNING.value
    for number, state_name, origin in zip(numbers, states, origins, strict=True):
        if origin == ev.ORIGIN_OPTIMIZE:
            if state_name == waiting:
                state._waiting_optimize.add(number)
            elif state_name == running:
                state._running_optimize.add(number)
    builder = _TrialBuilder(dists, columns)
    state.trials.hold(numbers, builder.build, builder.convert_all)
    return state, Told.from_blobs(blobs), study["pruner"]


class _TrialBuilder:
    """Builds the trial of one row of a saved state: from single cells while only a few rows
    are built, from whole columns once they are converted (:meth:`convert_all`)."""

    def __init__(self, dists: list[Distribution], columns: Mapping[str, list[Any]]) -> None:
        self._join = _Joiner(dists).join
        self._source = columns
        self._columns: list[list[Any]] | None = None
        self._cells_left = _CELL_BUILDS

    def convert_all(self) -> None:
        if self._columns is None:
            self._columns = [self._source[name] for name in COLUMN_KINDS]

    def _row(self, row: int) -> list[Any]:
        if self._columns is None:
            cell = getattr(self._source, "cell", None)
            if cell is not None and self._cells_left > 0:
                self._cells_left -= 1
                return [cell(name, row) for name in COLUMN_KINDS]
            self.convert_all()
        assert self._columns is not None
        return [column[row] for column in self._columns]

    def build(self, row: int) -> _Trial:
        (
            number,
            origin,
            state_name,
            attempt,
            started,
            completed,
            error,
            runner,
            crashes,
            checkpoint_step,
            paused_step,
            high_step,
            told_by,
            values,
            constraints,
            report_steps,
            report_values,
            param_names,
            param_dists,
            param_floats,
            param_ints,
            param_other,
            proposal_names,
            proposal_dists,
            proposal_floats,
            proposal_ints,
            proposal_other,
            user_attrs,
        ) = self._row(row)
        join = self._join
        params, distributions = join(
            param_names, param_dists, param_floats, param_ints, param_other
        )
        if proposal_names is None:
            proposal = {name: (distributions[name], value) for name, value in params.items()}
        elif proposal_names:
            named, by = join(
                proposal_names, proposal_dists, proposal_floats, proposal_ints, proposal_other
            )
            proposal = {name: (by[name], value) for name, value in named.items()}
        else:
            proposal = {}
        # Positional: the fields of _Trial in their order (a keyword call costs twice as much).
        return _Trial(
            number,
            origin,
            _STATES[state_name],
            attempt,
            params,
            distributions,
            None if values is None else tuple(values),
            None if constraints is None else tuple(constraints),
            dict(zip(report_steps, report_values, strict=True)),
            {} if user_attrs is None else json.loads(user_attrs),
            error,
            started,
            completed,
            runner,
            crashes,
            checkpoint_step,
            paused_step,
            high_step,
            proposal,
            told_by,
        )
