"""The sampler contract, the context a sampler is given, and the seeded random streams."""

from __future__ import annotations

import abc
import functools
import inspect
import itertools
import numbers
import operator
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from raysweep.samplers._distributions import Distribution
from raysweep.samplers._history import HistoryView
from raysweep.samplers._trial import StudyDirection, TrialRecord, TrialState

# The joint stream (name=None) needs a digest no parameter name can have; CRC-32 stays below 2**32.
JOINT_STREAM_DIGEST = 2**32


def sampler_rng(seed: int, trial_number: int, name: str | None = None) -> np.random.Generator:
    """The random stream of one trial, for one parameter name or (``None``) for joint proposals.

    A pure function of its arguments, using CRC-32 of the UTF-8 name rather than ``hash()``, whose
    value changes per process: replaying a study's log in any process redraws the same values,
    and the stream of one name does not depend on which other names were drawn before it.
    """
    _check_stream_numbers(seed, trial_number)
    digest = JOINT_STREAM_DIGEST if name is None else zlib.crc32(name.encode("utf-8"))
    return np.random.default_rng([seed, trial_number, digest])


def _check_stream_numbers(seed: int, trial_number: int) -> None:
    for label, number in (("seed", seed), ("trial_number", trial_number)):
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise ValueError(f"sampler_rng: {label}={number!r} must be a non-negative int")


# A C-level getter: the history check below runs on every proposal, over every trial.
_number = operator.attrgetter("number")


def seen_distributions(history: Iterable[TrialRecord]) -> dict[str, Distribution]:
    """See :attr:`SamplingContext.seen_distributions`; :class:`SeenDistributions` keeps it live."""
    seen = SeenDistributions()
    for trial in history:
        seen.update(trial)
    return dict(seen.distributions)


def intersection_space(context: SamplingContext) -> dict[str, Distribution]:
    """The names every COMPLETE trial has with the distribution the study uses now, in
    ``seen_distributions`` order; empty until a trial is COMPLETE.

    This is the space a sampler that models whole points can fit. A name whose range changed
    mid-study drops out: older trials were drawn from another space.
    """
    complete = [t for t in context.history if t.state is TrialState.COMPLETE]
    if not complete:
        return {}
    return {
        name: distribution
        for name, distribution in context.seen_distributions.items()
        if all(t.distributions.get(name) == distribution for t in complete)
    }


class SeenDistributions:
    """The latest distribution of every name in started trials, kept as records arrive."""

    def __init__(self) -> None:
        self.distributions: dict[str, Distribution] = {}
        self._from: dict[str, int] = {}

    def update(self, trial: TrialRecord) -> None:
        if trial.state is TrialState.WAITING:
            return
        for name, distribution in trial.distributions.items():
            if self._from.get(name, -1) <= trial.number:
                self.distributions[name] = distribution
                self._from[name] = trial.number


@dataclass(frozen=True)
class SamplingContext:
    """Everything a sampler may use to propose values for trial ``trial_number``.

    ``history`` holds every other trial of the study in any state (not the trial being sampled),
    as the orchestrator knows them when it asks; ``directions`` has one entry per objective.
    It is kept as given when it is a tuple or a :class:`HistoryView` (the orchestrator's, which
    lends the study's records without copying them) and made a tuple otherwise: either way a
    snapshot that does not change after the call.
    ``seen``, when given, must equal what :attr:`seen_distributions` would compute from
    ``history``: the orchestrator keeps it up to date as trials change, so that samplers need
    not rescan the whole history for it on every proposal.

    ``fidelity_steps`` are the steps at which the study's scheduler compares trials (its rungs),
    sorted and distinct, the last one being the full budget; empty when the scheduler compares
    none. They come as plain ints so that samplers need not know the scheduler.

    ``history_excludes_trial``: the caller vouches that ``history`` does not hold trial
    ``trial_number`` (the orchestrator builds it so), and the check that scans the whole history
    for it is skipped: at 100,000 trials that scan costs more than a cheap sampler's proposal.
    """

    study_seed: int
    trial_number: int
    directions: tuple[StudyDirection, ...]
    history: Sequence[TrialRecord]
    seen: Mapping[str, Distribution] | None = None
    fidelity_steps: tuple[int, ...] = ()
    history_excludes_trial: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "directions", tuple(self.directions))
        if not isinstance(self.history, tuple | HistoryView):
            # A view is already a snapshot (its keeper changes a copy): copying it would cost
            # what it saves.
            object.__setattr__(self, "history", tuple(self.history))
        if not self.directions:
            raise ValueError("SamplingContext: directions is empty; pass one per objective")
        if not self.history_excludes_trial and self.trial_number in map(_number, self.history):
            raise ValueError(
                f"SamplingContext: trial {self.trial_number} is in its own history; "
                "pass only the other trials of the study"
            )
        _check_stream_numbers(self.study_seed, self.trial_number)
        object.__setattr__(self, "fidelity_steps", _fidelity_steps(self.fidelity_steps))

    @functools.cached_property
    def seen_distributions(self) -> Mapping[str, Distribution]:
        """Each name used by a started (not WAITING) trial, with its latest distribution.

        "Latest" is by trial number. WAITING trials are left out: their parameters were fixed by
        hand, not drawn from a space.
        """
        if self.seen is not None:
            return self.seen
        return seen_distributions(self.history)

    @functools.cached_property
    def running(self) -> tuple[TrialRecord, ...]:
        """Trials running now: their points are taken, so proposals should avoid them."""
        return tuple(t for t in self.history if t.state is TrialState.RUNNING)

    @functools.cached_property
    def finished(self) -> tuple[TrialRecord, ...]:
        """Trials in a final state (PRUNED, COMPLETE, FAILED)."""
        return tuple(t for t in self.history if t.state.is_finished())

    def rng(self, name: str | None = None) -> np.random.Generator:
        """A fresh stream for ``name`` in this trial (see :func:`sampler_rng`)."""
        return sampler_rng(self.study_seed, self.trial_number, name)


def _fidelity_steps(steps: Iterable[int]) -> tuple[int, ...]:
    try:
        result = tuple(steps)
    except TypeError:
        raise ValueError(
            f"SamplingContext: fidelity_steps={steps!r} must be a sequence of step numbers"
        ) from None
    for step in result:
        if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 1:
            raise ValueError(
                f"SamplingContext: fidelity step {step!r} must be an int >= 1; pass the "
                "scheduler's fidelities()"
            )
    result = tuple(int(step) for step in result)
    if any(a >= b for a, b in itertools.pairwise(result)):
        raise ValueError(
            f"SamplingContext: fidelity_steps={result!r} must be sorted and distinct, the full "
            "budget last"
        )
    return result


class Sampler(abc.ABC):
    """Proposes parameter values for a trial; the orchestrator owns everything else.

    A trial is sampled in two steps. At trial start the orchestrator calls
    :meth:`infer_relative_search_space` and then :meth:`sample_relative` once, to propose every
    parameter the sampler can see in advance jointly. Inside the objective, a parameter that the
    joint proposal did not cover (a new name, or one behind an ``if``) is sampled on its own with
    :meth:`sample_independent`. The orchestrator then checks each value with the distribution the
    objective asked for, so a joint proposal made over an older distribution of a name is redone
    independently when it does not fit.

    A sampler may assume:

    * each distribution it is given is valid, and for a name that appears in ``history`` it is
      compatible with the earlier ones (``check_compatible``), though its range may differ;
    * ``context`` is a snapshot: the records in it do not change during the call.

    A sampler must:

    * return external values (``float`` for floats, ``int`` for ints, a choice for categoricals)
      that the distribution ``contains``; for ``sample_relative``, one per name of the given
      search space and no others;
    * raise :class:`SearchSpaceExhaustedError` when it has no new point left (a finished grid);
    * be deterministic: the result is a function of the sampler's configuration, the context and
      the arguments only, never of earlier calls, their order, a clock or a global random state.
      Randomness comes from ``context.rng(name)``, so a restarted service that replays the event
      log proposes the same values;
    * keep no state that a replay could not rebuild from the context.

    ``seed`` is the study seed the orchestrator should use when the study is created with this
    sampler (``None``: let it choose one and record it in the log); samplers themselves read
    ``context.study_seed``, which is what the log preserves.
    """

    def __init__(self, *, seed: int | None = None) -> None:
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ValueError(f"{type(self).__name__}: seed={seed!r} must be a non-negative int")
        self.seed = seed

    def check_directions(self, directions: tuple[StudyDirection, ...]) -> None:
        """Raise ``ValueError`` saying what to use instead if this sampler cannot serve a study
        with these objective directions (called once, when a study is created or reopened).

        By default every study is accepted.
        """
        return None

    def infer_relative_search_space(self, context: SamplingContext) -> dict[str, Distribution]:
        """The parameters to propose jointly at trial start; by default none."""
        return {}

    def sample_relative(
        self, context: SamplingContext, search_space: dict[str, Distribution]
    ) -> dict[str, Any]:
        """Propose a value for every name of ``search_space``; by default none (all independent)."""
        return {}

    @abc.abstractmethod
    def sample_independent(
        self, context: SamplingContext, name: str, distribution: Distribution
    ) -> Any:
        """Propose a value of ``distribution`` for the parameter ``name`` alone."""

    def to_json(self) -> dict[str, Any]:
        """The sampler's configuration for the event log: its class and constructor arguments.

        The arguments are read from the constructor's signature, in its order (``seed`` last
        when the constructor does not take it): each one must be kept as the attribute of the
        same name, holding its validated value, so that ``type(s)(**s.to_json()["arguments"])``
        rebuilds the sampler. A sampler-valued argument is written as its own ``to_json()``.
        Written from the signature, not by hand, so that no argument can be left out of the log.
        """
        owner = type(self).__name__
        arguments = {
            name: _as_json(getattr(self, name, _MISSING), f"{owner}.{name}")
            for name in configuration_names(type(self))
        }
        return {"class": owner, "arguments": arguments}


_MISSING = object()


@functools.cache
def configuration_names(cls: type[Sampler]) -> tuple[str, ...]:
    """The names of ``cls``'s configuration: its constructor's parameters, and ``seed``."""
    names: list[str] = []
    for parameter in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise TypeError(
                f"{cls.__name__}.__init__ takes *{parameter.name}, so to_json cannot tell its "
                "arguments; name each argument in the signature, or override to_json"
            )
        names.append(parameter.name)
    if "seed" not in names:
        names.append("seed")
    return tuple(names)


def _as_json(value: object, where: str) -> Any:
    # Numpy scalars pass the argument checks, but json cannot write most of them, and the log's
    # readers should not meet np.str_ either.
    if isinstance(value, np.generic):
        return _as_json(value.item(), where)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Sampler):
        return value.to_json()
    if isinstance(value, Mapping):
        return {key: _as_json(item, f"{where}[{key!r}]") for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_as_json(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if value is _MISSING:
        raise TypeError(
            f"{where} is a constructor argument but not an attribute; keep its validated value "
            "as that attribute, so that to_json can record it"
        )
    raise TypeError(f"{where}={value!r} is not JSON; keep a JSON form of it as that attribute")
