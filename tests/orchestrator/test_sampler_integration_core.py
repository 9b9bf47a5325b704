"""What the orchestrator does for samplers, without Ray: constraints, a finished grid, and
proposals handed out before their trials start."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raysweep.orchestrator._core import _trial_scheduler as ts
from raysweep.orchestrator._core._protocol import NoProposal, ParamNote, TrialOutcome, Updates
from raysweep.orchestrator._core._sampler_service import LocalSamplerClient, SamplerServiceCore
from raysweep.orchestrator._core._state import StudyInfo, StudyState
from raysweep.orchestrator._core._trial import constraint_values
from raysweep.orchestrator._errors import ObjectiveUsageError
from raysweep.orchestrator._storage._log import read_events
from raysweep.orchestrator._storage._store import LocalStudyStore
from raysweep.samplers import (
    Distribution,
    FloatDistribution,
    GridSampler,
    RandomSampler,
    Sampler,
    SamplingContext,
    SearchSpaceExhaustedError,
    StudyDirection,
    TrialRecord,
    TrialState,
)
from raysweep.scheduling import NoPruning

X = FloatDistribution(low=0.0, high=1.0)
MIN = (StudyDirection.MINIMIZE,)


def _open(directory: Path, sampler: Sampler) -> ts.TrialSchedulerCore:
    info = StudyInfo(
        name="integration",
        directions=MIN,
        seed=5,
        seed_source="create_study",
        sampler=sampler.to_json(),
        scheduler=NoPruning().to_json(),
    )
    core = ts.TrialSchedulerCore(
        LocalStudyStore(directory), info, load_if_exists=False, given=frozenset({"seed"})
    )
    core.open()
    core.attach_sampler(LocalSamplerClient(SamplerServiceCore(sampler, 5, MIN)))
    return core


def _finish(core: ts.TrialSchedulerCore, runner: str, outcome: TrialOutcome) -> None:
    assert core.next_trial(runner, outcome, False) is None


def _start(core: ts.TrialSchedulerCore, runner: str = "r") -> tuple[Any, tuple[ParamNote, ...]]:
    a = core.next_trial(runner, None)
    assert a is not None
    x = a.proposal["x"][1] if "x" in a.proposal else core.suggest(a.number, 0, "x", X, ())
    return a, (ParamNote("x", X, x),) if "x" in a.proposal else ()


# ----- constraints ---------------------------------------------------------------------------


def test_constraints_are_recorded_replayed_and_their_count_is_fixed(tmp_path: Path) -> None:
    core = _open(tmp_path, RandomSampler())
    core.start_optimize(10, 1)
    a, notes = _start(core)
    assert a.n_constraints is None
    _finish(
        core, "r", TrialOutcome(a.number, 0, TrialState.COMPLETE, (1.0,), None, notes, (0.5, -1.0))
    )
    b, notes = _start(core)
    assert b.n_constraints == 2  # the study now knows: the trial handle checks it
    _finish(core, "r", TrialOutcome(b.number, 0, TrialState.COMPLETE, (2.0,), None, notes, (-1.0,)))
    c, notes = _start(core)
    _finish(core, "r", TrialOutcome(c.number, 0, TrialState.COMPLETE, (3.0,), None, notes))
    d, notes = _start(core)
    _finish(core, "r", TrialOutcome(d.number, 0, TrialState.PRUNED, None, None, notes))
    records = core.records()
    assert records[0].constraints == (0.5, -1.0) and not records[0].feasible
    assert records[1].state is TrialState.FAILED and "reported 1 constraint values" in str(
        records[1].error
    )
    assert records[2].state is TrialState.FAILED and "without constraint values" in str(
        records[2].error
    )
    assert records[3].state is TrialState.PRUNED  # a pruned trial needs no constraints
    core.close()
    assert StudyState.replay(read_events(tmp_path)).records() == records


def test_tell_refuses_constraints_that_do_not_fit_and_keeps_the_trial_running(
    tmp_path: Path,
) -> None:
    core = _open(tmp_path, RandomSampler())
    first = core.ask()
    core.tell(first.number, TrialState.COMPLETE, (1.0,), None, (), (-0.5, 0.0))
    second = core.ask()
    with pytest.raises(
        ValueError, match="reported 3 constraint values; this study's trials report 2"
    ):
        core.tell(second.number, TrialState.COMPLETE, (1.0,), None, (), (1.0, 2.0, 3.0))
    assert core.record(second.number).state is TrialState.RUNNING
    told = core.tell(second.number, TrialState.COMPLETE, (1.0,), None, (), (1.0, 2.0))
    assert told.constraints == (1.0, 2.0) and not told.feasible
    core.close()


@pytest.mark.parametrize(
    ("values", "expected", "message"),
    [
        ([], None, "non-empty sequence"),
        ("0.1", None, "non-empty sequence"),
        ([0.1, float("nan")], None, r"constraints\[1\] is nan"),
        ([True], None, r"constraints\[0\] is True"),
        ([0.1, 0.2], 3, "2 constraint values given; this study's trials report 3"),
    ],
)
def test_bad_constraint_values_get_a_clear_error(
    values: Any, expected: int | None, message: str
) -> None:
    with pytest.raises(ObjectiveUsageError, match=message):
        constraint_values(values, expected)


def test_constraint_values_accept_numbers_and_infinity() -> None:
    assert constraint_values([0, -1.5, float("inf")], 3) == (0.0, -1.5, float("inf"))


# ----- a sampler with no point left ---------------------------------------------------------


def test_a_finished_grid_ends_optimize_without_creating_a_trial(tmp_path: Path) -> None:
    core = _open(tmp_path, GridSampler({"x": [0.25, 0.5, 0.75]}))
    core.start_optimize(10, 2)
    seen = []
    for _ in range(3):
        a = core.next_trial("r", None)
        assert a is not None
        x = core.suggest(a.number, 0, "x", X, ())  # the first trials see no space yet
        seen.append(x)
        _finish(core, "r", TrialOutcome(a.number, 0, TrialState.COMPLETE, (x,)))
    assert sorted(seen) == [0.25, 0.5, 0.75]
    assert core.next_trial("r", None) is None  # nothing left: no trial, optimize stops
    assert len(core.records()) == 3
    assert core.exhausted_reason is not None and "3" in core.exhausted_reason
    assert not core.wants_more()
    with pytest.raises(SearchSpaceExhaustedError):
        core.ask()
    assert len(core.records()) == 3
    core.close()


# ----- proposals handed out before their trials start ---------------------------------------


class _Recording(Sampler):
    """Proposes x = trial number / 100 and remembers the history each proposal saw."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[int, dict[int, TrialRecord]] = {}

    def infer_relative_search_space(self, context: SamplingContext) -> dict[str, Distribution]:
        return {"x": X}

    def sample_relative(
        self, context: SamplingContext, search_space: dict[str, Distribution]
    ) -> dict[str, Any]:
        self.seen[context.trial_number] = {r.number: r for r in context.history}
        return {"x": context.trial_number / 100}

    def sample_independent(
        self, context: SamplingContext, name: str, distribution: Distribution
    ) -> Any:
        raise AssertionError("not used")


def _record(number: int, state: TrialState, **kw: Any) -> TrialRecord:
    return TrialRecord(number=number, state=state, params={}, distributions={}, **kw)


def test_proposals_handed_out_are_shown_as_running_until_their_trials_finish() -> None:
    sampler = _Recording()
    service = SamplerServiceCore(sampler, 5, MIN)
    service.propose((0, 1, 2), Updates(1, (), complete=True))
    # Within one batch, each proposal sees the earlier ones as running trials holding them.
    assert sampler.seen[0] == {}
    assert sampler.seen[2].keys() == {0, 1}
    assert sampler.seen[2][1].state is TrialState.RUNNING
    assert sampler.seen[2][1].params == {"x": 0.01}
    # Trial 0 started (its record has no params yet: the runner uses the proposal locally);
    # trial 1 finished.
    updates = Updates(
        2,
        (
            _record(0, TrialState.RUNNING),
            TrialRecord(
                number=1,
                state=TrialState.COMPLETE,
                params={"x": 0.01},
                distributions={"x": X},
                values=(3.0,),
            ),
        ),
    )
    service.propose((3,), updates)
    seen = sampler.seen[3]
    assert seen[0].state is TrialState.RUNNING and seen[0].params == {"x": 0.0}
    assert seen[1].state is TrialState.COMPLETE  # the record, not the proposal
    assert seen[2].state is TrialState.RUNNING and seen[2].params == {"x": 0.02}


def test_an_exhausted_sampler_answers_no_proposal_for_that_number_only() -> None:
    service = SamplerServiceCore(GridSampler({"x": [0.5]}), 5, MIN)
    service.propose((0,), Updates(1, (), complete=True))
    held = TrialRecord(
        number=0, state=TrialState.RUNNING, params={"x": 0.5}, distributions={"x": X}
    )
    result = service.propose((1,), Updates(2, (held,)))
    assert isinstance(result[1], NoProposal) and "1" in result[1].reason


class _InterruptingClient:
    """A sampler client that loses runner "b" while the first proposal is being fetched."""

    def __init__(self, inner: LocalSamplerClient, core: ts.TrialSchedulerCore) -> None:
        self._inner, self._core, self._fired = inner, core, False

    def propose(self, numbers: tuple[int, ...], updates: Updates) -> Any:
        if not self._fired:
            self._fired = True
            self._core.runner_lost("b", "its node died", True)
        return self._inner.propose(numbers, updates)

    def suggest(self, number: int, name: str, distribution: Any, updates: Updates) -> Any:
        return self._inner.suggest(number, name, distribution, updates)


def test_a_trial_interrupted_while_a_proposal_is_fetched_is_re_run_first(tmp_path: Path) -> None:
    import threading

    core = _open(tmp_path, RandomSampler())
    core.start_optimize(10, 2)
    first = core.next_trial("b", None)
    assert first is not None and first.number == 0
    inner = LocalSamplerClient(SamplerServiceCore(RandomSampler(), 5, MIN))
    core.attach_sampler(_InterruptingClient(inner, core))  # nothing fetched ahead any more
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(core.next_trial("a", None)))
    worker.start()
    worker.join(timeout=20)
    assert not worker.is_alive(), "next_trial did not return"
    rerun = result[0]
    assert rerun is not None and (rerun.number, rerun.attempt) == (0, 1)
    assert len(core.records()) == 1  # no new trial was created for it
    core.close()


class _Checked(Sampler):
    """Checks the history of each proposal against one rebuilt from scratch."""

    def __init__(self, rebuild: Callable[[int], tuple[TrialRecord, ...]]) -> None:
        super().__init__()
        self._rebuild = rebuild
        self.checked = 0

    def infer_relative_search_space(self, context: SamplingContext) -> dict[str, Distribution]:
        return {"x": X}

    def sample_relative(
        self, context: SamplingContext, search_space: dict[str, Distribution]
    ) -> dict[str, Any]:
        assert context.history == self._rebuild(context.trial_number)
        self.checked += 1
        return {"x": 0.5}

    def sample_independent(
        self, context: SamplingContext, name: str, distribution: Distribution
    ) -> Any:
        raise AssertionError("not used")


_UPDATE = st.lists(
    st.tuples(
        st.integers(0, 7),
        st.sampled_from([TrialState.RUNNING, TrialState.COMPLETE, TrialState.WAITING]),
    ),
    max_size=4,
)


@settings(max_examples=80, deadline=None)
@given(
    batches=st.lists(st.tuples(_UPDATE, st.lists(st.integers(0, 9), min_size=1, max_size=3))),
    order=st.randoms(use_true_random=False),
)
def test_the_history_kept_in_place_equals_one_rebuilt_from_every_update(
    batches: list[tuple[list[tuple[int, TrialState]], list[int]]], order: Any
) -> None:
    # What the service did before it kept its history in place: a dict of the newest copies,
    # the trial asked for and the points handed out taken out, those points put last.
    newest: dict[int, TrialRecord] = {}
    versions: dict[int, int] = {}

    def rebuild(number: int) -> tuple[TrialRecord, ...]:
        taken = service._taken(number)
        left = tuple(r for r in newest.values() if r.number not in {number, *taken})
        return left + tuple(taken.values())

    service = SamplerServiceCore(_Checked(rebuild), 5, MIN)
    # Batches may arrive out of order (requests run concurrently): each carries its version.
    numbered = list(enumerate(batches, start=1))
    order.shuffle(numbered)
    for index, (version, (changed, asked)) in enumerate(numbered):
        records = tuple(
            TrialRecord(
                number=n,
                state=state,
                params={"x": n / 10},
                distributions={"x": X},
                values=(float(version),) if state is TrialState.COMPLETE else None,
            )
            for n, state in changed
        )
        for record in records:
            if versions.get(record.number, -1) < version:
                newest[record.number], versions[record.number] = record, version
        service.propose(tuple(dict.fromkeys(asked)), Updates(version, records, index == 0))
    assert service._history() == tuple(newest.values())


class _Keeping(Sampler):
    """Keeps every context it is given (a sampler may), and proposes nothing jointly."""

    def __init__(self) -> None:
        super().__init__()
        self.contexts: list[SamplingContext] = []

    def infer_relative_search_space(self, context: SamplingContext) -> dict[str, Distribution]:
        self.contexts.append(context)
        return {}

    def sample_relative(
        self, context: SamplingContext, search_space: dict[str, Distribution]
    ) -> dict[str, Any]:
        return {}

    def sample_independent(
        self, context: SamplingContext, name: str, distribution: Distribution
    ) -> Any:
        return 0.5


def _running(number: int, state: TrialState = TrialState.RUNNING) -> TrialRecord:
    return TrialRecord(
        number=number,
        state=state,
        params={"x": number / 1e6},
        distributions={"x": X},
        values=(1.0,) if state is TrialState.COMPLETE else None,
    )


def test_a_context_the_sampler_keeps_does_not_change_when_the_study_does() -> None:
    sampler = _Keeping()
    service = SamplerServiceCore(sampler, 5, MIN)
    first = tuple(_running(n) for n in range(4))
    service.propose((4,), Updates(1, first, True))
    service.propose((2,), Updates(2, (_running(2, TrialState.COMPLETE), _running(5))))
    kept, later = sampler.contexts
    assert kept.history == first  # as it was when the sampler was asked
    assert later.history == (first[0], first[1], first[3], _running(5))  # trial 2 left out
    service.propose((6,), Updates(3, (_running(1, TrialState.COMPLETE),)))
    assert later.history == (first[0], first[1], first[3], _running(5))
    assert [r.state for r in sampler.contexts[-1].history] == [
        TrialState.RUNNING,
        TrialState.COMPLETE,
        TrialState.COMPLETE,
        TrialState.RUNNING,
        TrialState.RUNNING,
    ]


def test_a_proposal_copies_nothing_the_size_of_the_study() -> None:
    # At 100,000 trials the copies of the history made per proposal (a tuple of every record,
    # a list with the trial itself taken out, the context's own tuple) cost more than the
    # proposal. Memory allocated while proposing shows whether any is made.
    n = 50_000
    service = SamplerServiceCore(RandomSampler(seed=1), 5, MIN)
    service.propose((n,), Updates(1, tuple(_running(i) for i in range(n)), True))
    tracemalloc.start()
    try:
        # A record changed, a re-run of a trial the history holds, a new trial beside it.
        service.propose((7, n + 1), Updates(2, (_running(3, TrialState.COMPLETE),)))
        service.suggest(n + 2, "y", X, Updates(3, (_running(n),)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024, f"{peak} bytes allocated: the history of {n} trials was copied"
