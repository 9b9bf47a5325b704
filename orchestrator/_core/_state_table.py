"""The study's state as a table, one row per trial: saved while the TrialScheduler runs and
when it closes, read back instead of replaying the events it stands for.

Replaying a 100,000-trial study decodes and applies about 900,000 events; reading its state is
a row per trial. What is saved is exactly what the replay would rebuild: the `StudyState`
(every trial, the study-level counters), what the pruner was told, in order, and the pruner's
own state where it saves one. Each save after the first holds only the trials changed since
the one before (:class:`StateSaver`). The log stays the truth: the storage hands a saved state
back only where it stands for the log up to its seq (``_storage._log``), and every reader of
the log ignores it.

Nested values (parameters, reports, user attributes, values) are JSON, one text per trial,
parsed in one go; distributions are saved once each and shared again on load.
"""

from __future__ import annotations

import json
import sys
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from raysweep.orchestrator._core import _events as ev
from raysweep.orchestrator._core._state import ResourceUsage, StudyInfo, StudyState, _Trial
from raysweep.samplers import Distribution, TrialState
from raysweep.scheduling import SchedulerState

__all__ = [
    "COLUMN_KINDS",
    "LoadedState",
    "StateSaver",
    "StateToSave",
    "Told",
    "load_state",
    "save_state",
]

# Bump when what a row or the study part means changes: a state of another version is not
# read, and the log is replayed instead (it is a cache, so nothing else is needed).
_VERSION = 4

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
    "placement": "str",  # JSON (Placement.to_json); None: not known
    "hardware": "str",  # JSON (the trial's tally, _hardware_use); None: none yet
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

    def feed(self, pruner: SchedulerState, start: int = 0) -> None:
        """Tell `pruner` everything from the `start`-th entry on, in order, as it was told
        while the study ran."""
        on_report, on_resume = pruner.on_report, pruner.on_resume
        arrays = (self.trials, self.attempts, self.steps, self.values)
        if start:
            arrays = tuple(values[start:] for values in arrays)  # type: ignore[assignment]
        for trial, attempt, step, value in zip(*arrays, strict=True):
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

    def to_blobs(self, start: int = 0) -> dict[str, bytes]:
        """The entries from the `start`-th on, as bytes (:meth:`from_blobs` reads them)."""
        return {
            name: _array_bytes(values[start:] if start else values)
            for name, values in zip(_TOLD_BLOBS, self._arrays(), strict=True)
        }

    @classmethod
    def from_blobs(cls, blobs: Mapping[str, bytes]) -> Told:
        told = cls()
        for name, values in zip(_TOLD_BLOBS, told._arrays(), strict=True):
            values.extend(_bytes_array(values.typecode, blobs[name]))
        if len({len(told.trials), len(told.attempts), len(told.steps), len(told.values)}) > 1:
            raise ValueError("the pruner's inputs are not of one length")
        return told


def _array_bytes(values: array[Any]) -> bytes:
    # Little-endian on disk, whatever machine wrote it: a study moves (an object store).
    if sys.byteorder == "big":
        values = array(values.typecode, values)
        values.byteswap()
    return values.tobytes()


def _bytes_array(typecode: str, data: bytes) -> array[Any]:
    values = array(typecode)
    values.frombytes(data)
    if sys.byteorder == "big":
        values.byteswap()
    return values


# A pruner's saved state is JSON data, mostly a few long lists of numbers (ASHA keeps a score
# and a trial per trial per rung): those go beside the JSON as bytes, which costs a tenth of
# writing and parsing them as text, so that the state can be saved while the study runs.
_PACKED = "\u0000packed"
# The pruner's state: its JSON, its packed lists ("pruner.<i>"), and how many things the
# pruner had been told when it was saved (an int, as text). It is the bulk of a state laid on
# another (the rows are only what changed), so only every _PRUNER_EVERY-th such state holds it:
# a reopen restores the newest one saved and tells the pruner what it was told after it.
_PRUNER = "pruner"
_PRUNER_TOLD = "pruner_told"
_PRUNER_EVERY = 4
_PACK_AT = 64
_PACK_TYPES = {float: "d", int: "q"}


def _pack(value: Any, blobs: dict[str, bytes]) -> Any:
    """`value` (JSON data) with each long list of only floats or only ints (never bools) in
    `blobs`, named by a marker that :func:`_unpack` reads."""
    if type(value) is dict:
        return {key: _pack(item, blobs) for key, item in value.items()}
    if type(value) is not list:
        return value
    if len(value) >= _PACK_AT:
        kinds = set(map(type, value))
        typecode = _PACK_TYPES.get(kinds.pop()) if len(kinds) == 1 else None
        if typecode is not None:
            try:
                packed = array(typecode, value)
            except OverflowError:  # an int beyond 64 bits: JSON keeps it exactly
                pass
            else:
                name = f"{_PRUNER}.{len(blobs)}"
                blobs[name] = _array_bytes(packed)
                return {_PACKED: name, "type": typecode}
    return [_pack(item, blobs) for item in value]


def _unpack(value: Any, blobs: Mapping[str, bytes]) -> Any:
    if type(value) is dict:
        name = value.get(_PACKED)
        if name is not None:
            typecode = value["type"]
            if typecode not in _PACK_TYPES.values():
                raise ValueError(f"a packed list of unknown type {typecode!r}")
            return _bytes_array(typecode, blobs[name]).tolist()
        return {key: _unpack(item, blobs) for key, item in value.items()}
    if type(value) is list:
        return [_unpack(item, blobs) for item in value]
    return value


@dataclass(frozen=True)
class StateToSave:
    """A state for the log to save (``StudyLog.save_state``): see ``_storage._saved_state``.

    ``base_seq`` None: ``columns`` hold every trial and ``appended`` all the pruner was told.
    Otherwise they hold only the trials changed, and what the pruner was told, since the state
    saved at ``base_seq``, on which this one is laid: a row replaces the base's row of the same
    ``key`` (the trial number), and ``appended`` continues the base's. ``study`` replaces the
    base's, and each of ``blobs`` the base's of its name (a state laid on another may hold no
    pruner state: the base's stands).
    """

    last_seq: int
    study: str
    columns: dict[str, list[Any]]
    kinds: dict[str, str]
    blobs: dict[str, bytes]
    appended: dict[str, bytes]
    base_seq: int | None = None
    key: str = "number"


class StateSaver:
    """Makes the states to save of one study, each laid on the one saved before it.

    The first is every trial; each later one only the trials changed since the last save that
    the log confirmed (`StudyState.take_unsaved`), so that saving while a study runs costs what
    changed, not the whole study. Rows name distributions by their place in the study's list of
    them, which therefore only grows, so that a later state's rows and its base's agree.
    """

    def __init__(self) -> None:
        self._index: dict[int, int] = {}  # id(distribution) -> its place in `_dists`
        self._dists: list[Distribution] = []  # held, so that the ids stay theirs
        self._dist_json: list[Any] = []
        self._base_seq: int | None = None
        self._told_saved = 0
        # States saved since the last that held the pruner's state.
        self._without_pruner = 0
        self._pending: tuple[set[int], int, int, bool] | None = None

    @classmethod
    def after_load(cls, dists: list[Distribution], last_seq: int, told: int) -> StateSaver:
        """The saver of a study read back from the state saved at `last_seq` (whose list of
        distributions is `dists`, whose pruner had been told `told` things)."""
        saver = cls()
        for dist in dists:
            saver._place(dist)
        saver._base_seq, saver._told_saved = last_seq, told
        return saver

    def _place(self, dist: Distribution) -> int:
        at = self._index.get(id(dist))
        if at is None:
            at = self._index[id(dist)] = len(self._dists)
            self._dists.append(dist)
            self._dist_json.append(dist.to_json())
        return at

    def capture(
        self,
        state: StudyState,
        told: Told,
        pruner: Callable[[], dict[str, Any] | None],
        laid_on: int | None,
        *,
        with_pruner: bool = False,
    ) -> StateToSave:
        """The state to save now (as of `state.last_seq`), laid on the state saved at
        `laid_on` (the log's `state_base`) where that is the last one this saver made or was
        loaded from, whole otherwise; call :meth:`confirm` once the log has saved it or not.
        `pruner`: `SchedulerState.saved` (None where it saves none), called where this state
        holds it: a whole one, every `_PRUNER_EVERY`-th, and where `with_pruner` says so (at
        close, so that the next open need not tell the pruner anything)."""
        if self._pending is not None:
            raise RuntimeError("the last state captured was never confirmed")
        changed = state.take_unsaved()
        base = self._base_seq if laid_on is not None and laid_on == self._base_seq else None
        with_pruner = with_pruner or base is None or self._without_pruner + 1 >= _PRUNER_EVERY
        try:
            if base is None:
                trials: Iterable[_Trial] = state.trials.values()
            else:
                trials = [state.trials[number] for number in sorted(changed)]
            saved = self._state(
                state,
                trials,
                told,
                0 if base is None else self._told_saved,
                pruner if with_pruner else None,
                base,
            )
        except BaseException:
            state.put_back_unsaved(changed)
            raise
        self._pending = (changed, state.last_seq, len(told), with_pruner)
        return saved

    def confirm(self, state: StudyState, saved: bool) -> None:
        """Whether the log saved the state :meth:`capture` made last: the next one is laid on
        it, or (not saved) holds again what it held."""
        if self._pending is None:
            raise RuntimeError("no state was captured")
        changed, last_seq, told, with_pruner = self._pending
        self._pending = None
        if saved:
            self._base_seq, self._told_saved = last_seq, told
            self._without_pruner = 0 if with_pruner else self._without_pruner + 1
        else:
            state.put_back_unsaved(changed)

    def _state(
        self,
        state: StudyState,
        trials: Iterable[_Trial],
        told: Told,
        told_from: int,
        pruner: Callable[[], dict[str, Any] | None] | None,
        base_seq: int | None,
    ) -> StateToSave:
        """`pruner` None: this state holds no pruner state (its base's stands)."""
        assert state.info is not None
        place = self._place
        columns: dict[str, list[Any]] = {name: [] for name in COLUMN_KINDS}
        add = [columns[name].append for name in COLUMN_KINDS]
        for trial in trials:
            for append, value in zip(add, _row(trial, place), strict=True):
                append(value)
        latest = [[name, place(dist)] for name, dist in state.distributions.items()]
        blobs: dict[str, bytes] = {}
        study = {
            "version": _VERSION,
            "info": state.info.to_payload().to_json(),
            "next_number": state.next_number,
            "asked": state.asked,
            "latest": latest,
            "dists": self._dist_json,
            "optimize_target": state.optimize_target,
            "optimize_concurrency": state.optimize_concurrency,
            "optimizing": state.optimizing,
            "n_constraints": state.n_constraints,
            "usage": vars(state.usage),
            "best": state._best,
            "best_stale": state._best_stale,
        }
        saved_pruner = None if pruner is None else pruner()
        if saved_pruner is not None:
            skeleton = _pack(saved_pruner, blobs)
            blobs[_PRUNER] = json.dumps(skeleton).encode()
            blobs[_PRUNER_TOLD] = str(len(told)).encode()
        return StateToSave(
            state.last_seq,
            json.dumps(study),
            columns,
            dict(COLUMN_KINDS),
            blobs,
            told.to_blobs(told_from),
            base_seq,
        )


def save_state(state: StudyState, told: Told, pruner: dict[str, Any] | None) -> StateToSave:
    """The whole table of `state` (as of `state.last_seq`), of what the pruner was told, and of
    the pruner's own state (`SchedulerState.saved`: None where it saves none)."""
    return StateSaver()._state(state, state.trials.values(), told, 0, lambda: pruner, None)


def _row(trial: _Trial, place: Callable[[Distribution], int]) -> tuple[Any, ...]:
    """The trial's values, in the order of COLUMN_KINDS."""
    params = _split(trial.params, trial.distributions, place)
    if _is_params(trial):
        proposal: tuple[Any, ...] = (None,) * 5
    else:
        proposal = _split(
            {name: value for name, (_, value) in trial.proposal.items()},
            {name: dist for name, (dist, _) in trial.proposal.items()},
            place,
        )
    return (
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
        None if trial.placement is None else json.dumps(trial.placement),
        None if trial.hardware is None else json.dumps(trial.hardware),
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


class LoadedState(NamedTuple):
    state: StudyState
    told: Told
    # The pruner's state (`SchedulerState.saved`), or None where it saved none.
    pruner: dict[str, Any] | None
    # How many of `told` the pruner had been told when its state was saved.
    pruner_told: int
    # What saves the study's next states, each laid on this one.
    saver: StateSaver


def load_state(
    last_seq: int, study_text: str, columns: Mapping[str, list[Any]], blobs: Mapping[str, bytes]
) -> LoadedState:
    """The state, the pruner's inputs and its saved state that a :class:`StateSaver` saved
    (with its base, and theirs: ``_storage`` lays them on each other); ValueError if they are
    not of this version (the caller replays the log instead)."""
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
    told = Told.from_blobs(blobs)
    pruner, pruner_told = None, 0
    if _PRUNER in blobs:
        pruner = _unpack(json.loads(blobs[_PRUNER]), blobs)
        pruner_told = int(blobs[_PRUNER_TOLD])
        if not 0 <= pruner_told <= len(told):
            raise ValueError("the pruner's state says it was told more than was saved")
    saver = StateSaver.after_load(dists, last_seq, len(told))
    return LoadedState(state, told, pruner, pruner_told, saver)


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
            placement,
            hardware,
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
            None if placement is None else json.loads(placement),
            None if hardware is None else json.loads(hardware),
        )
