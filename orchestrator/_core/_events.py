"""The event vocabulary of a study log: one kind per fact, one typed payload per kind.

Every fact about a study is one event: a kind (:class:`EventKind`), the trial it concerns (or
none), and a payload. On disk a payload is a JSON object (``_storage``); here it is a frozen
dataclass, so that what each kind carries is written down once, checked by the type checker,
and read back the same way by the running study and by a replay years later.

**The payload keys** (JSON names = field names; the table in ARCHITECTURE.md repeats it):

======================  =====  ===============================================================
kind                    trial  payload
======================  =====  ===============================================================
``study_created``       no     ``name``, ``directions`` (list of "minimize"/"maximize"),
                               ``seed``, ``seed_source``, ``sampler``, ``scheduler`` (their
                               ``to_json()``)
``writer_started``      no     ``host``, ``took_over_from`` (str|null), ``replay`` (what the
                               replay dropped, str|null)
``optimize_started``    no     ``n_trials``, ``concurrency``, ``run`` (the id of a detached
                               run; absent: an ``optimize`` call in a driver)
``optimize_stopped``    no     ``reason`` (absent: the caller stopped it)
``trial_created``       yes    ``origin`` ("optimize"/"ask"), ``bracket`` (absent: none),
                               ``proposal`` (the up-front proposal handed out with it: name ->
                               {``distribution``, ``value``}; absent: none), ``request`` (the
                               ``ask`` call's id; absent: none)
``trial_started``       yes    ``attempt``, ``runner``, ``resume_step`` (absent: from scratch),
                               ``placement`` (``runner``, ``resources`` per host, ``nodes``,
                               ``accelerator_type``, ``slice_name`` (absent: not a TPU
                               slice); absent: not known)
``param``               yes    ``name``, ``distribution`` (its ``to_json()``), ``value``
``report``              yes    ``attempt``, ``step``, ``value``, ``judged`` (absent: true)
``decision``            yes    ``attempt``, ``action``, ``reason``, ``rung``
``user_attr``           yes    ``key``, ``value``
``trial_paused``        yes    ``attempt``, ``step``, ``checkpoint`` (str|null), ``energy``
                               (what the runner measured over the attempt, ``EnergyUse.
                               to_json()``: ``cpu_joules``, ``gpu_joules`` (null: unknown),
                               ``attribution``, the devices' own figures; absent: none sent)
``trial_resumed``       yes    ``trial``, ``rung``, ``reason`` (the promotion), ``placement``
                               (as in ``trial_started``; absent: not known), and ``runner``,
                               or ``skipped`` (why it was not run; logs of raysweep
                               before the promotion fix only: no longer written)
``trial_interrupted``   yes    ``attempt``, ``reason``, ``crash``, ``energy`` (as in
                               ``trial_paused``)
``trial_finished``      yes    ``attempt``, ``state``, ``values`` (list|null), ``error``
                               (str|null), ``constraints`` (absent: none), ``request`` (the
                               ``tell`` call's id; absent: none), ``energy`` (as in
                               ``trial_paused``)
======================  =====  ===============================================================

Floats that JSON cannot carry (NaN, ±inf) are written as the strings ``"nan"``, ``"inf"`` and
``"-inf"`` (``value``, ``values``, ``constraints``).

**Versions.** ``SCHEMA_VERSION`` (``_storage._format``) numbers the vocabulary and the layout
together. Within one version a payload may only gain an optional key (with a default that
means what its absence meant before); a reader ignores keys it does not know, so a reader of
version N reads such a log unchanged. Anything else — a new kind, a key removed, renamed or
made required, a meaning changed — is version N+1: a reader of version N refuses that log with
:class:`~raysweep.orchestrator.CorruptLogError` saying to upgrade raysweep (it never guesses),
and the reader of N+1 reads every older version through the defaults here (and, if ever
needed, a conversion in ``_storage._format.columns_from_batch``). A log checked in at
``tests/orchestrator/data/study_v<N>`` must keep replaying to the same trials.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from raysweep.orchestrator._errors import CorruptLogError

__all__ = [
    "ORIGIN_ASK",
    "ORIGIN_OPTIMIZE",
    "DecisionMade",
    "EventKind",
    "OptimizeStarted",
    "OptimizeStopped",
    "ParamDrawn",
    "Payload",
    "ReportMade",
    "StudyCreated",
    "TrialCreated",
    "TrialFinished",
    "TrialInterrupted",
    "TrialPaused",
    "TrialResumed",
    "TrialStarted",
    "UserAttrSet",
    "WriterStarted",
    "decode_float",
    "decode_payload",
    "encode_float",
]


class EventKind(str, enum.Enum):
    """The kinds of event; the value is what the log's ``kind`` column holds."""

    STUDY_CREATED = "study_created"
    WRITER_STARTED = "writer_started"
    OPTIMIZE_STARTED = "optimize_started"
    OPTIMIZE_STOPPED = "optimize_stopped"
    TRIAL_CREATED = "trial_created"
    TRIAL_STARTED = "trial_started"
    PARAM = "param"
    REPORT = "report"
    DECISION = "decision"
    USER_ATTR = "user_attr"
    # Promote mode: a trial that reached a rung stops and frees its runner (its checkpoint, if
    # it gave one, is saved beside the log); it is resumed when the scheduler promotes it.
    TRIAL_PAUSED = "trial_paused"
    TRIAL_RESUMED = "trial_resumed"
    TRIAL_INTERRUPTED = "trial_interrupted"
    TRIAL_FINISHED = "trial_finished"

    def __str__(self) -> str:
        return self.value


ORIGIN_OPTIMIZE = "optimize"
ORIGIN_ASK = "ask"

_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def encode_float(value: float) -> float | str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def decode_float(value: float | int | str) -> float:
    if isinstance(value, str):
        return _NON_FINITE[value]
    return float(value)


# Field metadata. OMIT: the key is left out of the JSON when the field has its default (the
# vocabulary of version 1 wrote these keys only when they said something). FLOATS: a float, or
# a list of floats, stored with the non-finite spellings above.
_OMIT = "omit_default"
_FLOATS = "floats"


def _optional(default: Any = None, *, floats: bool = False) -> Any:
    return field(default=default, metadata={_OMIT: True, _FLOATS: floats})


def _floats() -> Any:
    return field(metadata={_FLOATS: True})


def _encode_floats(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [encode_float(v) for v in value]
    return encode_float(value)


def _decode_floats(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, list):
        return tuple(decode_float(v) for v in value)
    return decode_float(value)


P = TypeVar("P", bound="Payload")


@dataclass(frozen=True)
class Payload:
    """What one kind of event carries. Subclasses name their kind and list their keys."""

    kind: ClassVar[EventKind]
    # Whether the event names the trial it concerns (the log's ``trial`` column).
    about_trial: ClassVar[bool] = True

    def to_json(self) -> dict[str, Any]:
        """The JSON object stored for this payload."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.metadata.get(_OMIT) and value == f.default:
                continue
            out[f.name] = _encode_floats(value) if f.metadata.get(_FLOATS) else value
        return out

    @classmethod
    def from_json(cls: type[P], payload: Mapping[str, Any]) -> P:
        """Read a stored payload; keys this version does not know are ignored (see above)."""
        keys = _KEYS.get(cls)
        if keys is None:
            keys = _KEYS[cls] = tuple(
                (f.name, f.default is dataclasses.MISSING, bool(f.metadata.get(_FLOATS)))
                for f in dataclasses.fields(cls)
            )
        values: dict[str, Any] = {}
        for name, required, floats in keys:
            if name not in payload:
                if required:
                    raise CorruptLogError(
                        f"a {cls.kind.value!r} event has no {name!r} key (it has "
                        f"{sorted(payload)}); the log was not written by raysweep"
                    )
                continue
            value = payload[name]
            values[name] = _decode_floats(value) if floats else value
        return cls(**values)


# Each payload class's keys as from_json reads them: (name, required, holds floats). Read once,
# since a replay decodes every event of the study.
_KEYS: dict[type[Payload], tuple[tuple[str, bool, bool], ...]] = {}


@dataclass(frozen=True)
class StudyCreated(Payload):
    kind: ClassVar[EventKind] = EventKind.STUDY_CREATED
    about_trial: ClassVar[bool] = False
    name: str
    directions: list[str]
    seed: int
    seed_source: str
    sampler: dict[str, Any]
    scheduler: dict[str, Any]


@dataclass(frozen=True)
class WriterStarted(Payload):
    kind: ClassVar[EventKind] = EventKind.WRITER_STARTED
    about_trial: ClassVar[bool] = False
    host: str | None = None
    took_over_from: str | None = None
    replay: str | None = None


@dataclass(frozen=True)
class OptimizeStarted(Payload):
    kind: ClassVar[EventKind] = EventKind.OPTIMIZE_STARTED
    about_trial: ClassVar[bool] = False
    n_trials: int
    concurrency: int
    # A detached run's id: its host, restarted, tells from the log whether this run ended.
    run: str | None = _optional()


@dataclass(frozen=True)
class OptimizeStopped(Payload):
    kind: ClassVar[EventKind] = EventKind.OPTIMIZE_STOPPED
    about_trial: ClassVar[bool] = False
    reason: str | None = _optional()


@dataclass(frozen=True)
class TrialCreated(Payload):
    kind: ClassVar[EventKind] = EventKind.TRIAL_CREATED
    origin: str
    bracket: int | None = _optional()
    # Recorded with the hand-out, so that a re-run after a runner died before sending the
    # values it took from it is handed the same proposal.
    proposal: dict[str, Any] | None = _optional()  # noqa: RUF009 (a dataclasses.field)
    # The id of the `ask` call that created it, so that a retried call gets the same trial.
    request: str | None = _optional()


@dataclass(frozen=True)
class TrialStarted(Payload):
    kind: ClassVar[EventKind] = EventKind.TRIAL_STARTED
    attempt: int
    runner: str | None = None
    resume_step: int | None = _optional()
    # Where the attempt runs (`Placement.to_json`); absent: not known (ask/tell, older logs).
    placement: dict[str, Any] | None = _optional()  # noqa: RUF009 (a dataclasses.field)


@dataclass(frozen=True)
class ParamDrawn(Payload):
    kind: ClassVar[EventKind] = EventKind.PARAM
    name: str
    distribution: dict[str, Any]
    value: Any


@dataclass(frozen=True)
class ReportMade(Payload):
    kind: ClassVar[EventKind] = EventKind.REPORT
    attempt: int
    step: int
    value: float = _floats()
    # False: recorded after its attempt closed, so the scheduler did not (and, on replay, does
    # not) judge it.
    judged: bool = _optional(True)


@dataclass(frozen=True)
class DecisionMade(Payload):
    """A scheduler's decision at a rung; kept for the reader (replay re-judges the reports)."""

    kind: ClassVar[EventKind] = EventKind.DECISION
    attempt: int
    action: str
    reason: str
    rung: int | None


@dataclass(frozen=True)
class UserAttrSet(Payload):
    kind: ClassVar[EventKind] = EventKind.USER_ATTR
    key: str
    value: Any


@dataclass(frozen=True)
class TrialPaused(Payload):
    kind: ClassVar[EventKind] = EventKind.TRIAL_PAUSED
    attempt: int
    step: int
    # Where the checkpoint was saved (null: none given), for readers. Never opened or deleted:
    # the checkpoint's place is made of the trial's number and `step`, so a crafted log cannot
    # point a runner or the TrialScheduler at another file.
    checkpoint: str | None = None
    # What the runner measured over the attempt (`EnergyUse.to_json`); absent: none sent.
    energy: dict[str, Any] | None = _optional()  # noqa: RUF009 (a dataclasses.field)


@dataclass(frozen=True)
class TrialResumed(Payload):
    """A promotion taken and run on ``runner``.

    ``skipped`` (the trial was not paused, so the promotion was given up) is read from older
    logs, which replay as they ran; it is no longer written, since only paused trials are
    promoted now.
    """

    kind: ClassVar[EventKind] = EventKind.TRIAL_RESUMED
    trial: int
    rung: int
    reason: str
    runner: str | None = _optional()
    skipped: str | None = _optional()
    placement: dict[str, Any] | None = _optional()  # noqa: RUF009 (a dataclasses.field)


@dataclass(frozen=True)
class TrialInterrupted(Payload):
    kind: ClassVar[EventKind] = EventKind.TRIAL_INTERRUPTED
    attempt: int
    reason: str | None = None
    # The runner's process or node died (counts towards failing the trial), as opposed to a
    # stop the user asked for.
    crash: bool = False
    energy: dict[str, Any] | None = _optional()  # noqa: RUF009 (a dataclasses.field)


@dataclass(frozen=True)
class TrialFinished(Payload):
    kind: ClassVar[EventKind] = EventKind.TRIAL_FINISHED
    attempt: int
    state: str
    values: tuple[float, ...] | None = field(default=None, metadata={_FLOATS: True})
    error: str | None = None
    constraints: tuple[float, ...] | None = _optional(floats=True)
    # The id of the `tell` call that finished it, so that a retried call is applied once.
    request: str | None = _optional()
    energy: dict[str, Any] | None = _optional()  # noqa: RUF009 (a dataclasses.field)


_BY_KIND: dict[str, type[Payload]] = {
    cls.kind.value: cls
    for cls in (
        StudyCreated,
        WriterStarted,
        OptimizeStarted,
        OptimizeStopped,
        TrialCreated,
        TrialStarted,
        ParamDrawn,
        ReportMade,
        DecisionMade,
        UserAttrSet,
        TrialPaused,
        TrialResumed,
        TrialInterrupted,
        TrialFinished,
    )
}


def decode_payload(kind: str, trial: int | None, payload: Mapping[str, Any]) -> Payload:
    """The typed payload of a stored event; CorruptLogError for what no raysweep writes."""
    cls = _BY_KIND.get(kind)
    if cls is None:
        raise CorruptLogError(
            f"unknown event kind {kind!r}: the log was written by a newer raysweep (upgrade "
            "raysweep to replay it) or is not a raysweep log"
        )
    if (trial is not None) != cls.about_trial:
        raise CorruptLogError(
            f"a {kind!r} event must {'name' if cls.about_trial else 'not name'} a trial "
            f"(it has trial={trial!r})"
        )
    return cls.from_json(payload)
