"""Seeded streams: a pure function of (seed, trial, name), independent of ``hash()``."""

from __future__ import annotations

import os
import subprocess
import sys
import zlib

import numpy as np
import pytest

from raysweep.samplers import (
    FloatDistribution,
    SamplingContext,
    StudyDirection,
    TrialRecord,
    TrialState,
    sampler_rng,
)


def test_stream_is_seeded_from_seed_trial_and_crc32_of_the_name() -> None:
    expected = np.random.default_rng([7, 3, zlib.crc32(b"lr")]).random(4)
    assert np.array_equal(sampler_rng(7, 3, "lr").random(4), expected)


def test_streams_are_reproducible_and_distinct() -> None:
    draws = {
        key: sampler_rng(*key).random()
        for key in [(1, 0, "x"), (2, 0, "x"), (1, 1, "x"), (1, 0, "y"), (1, 0, None)]
    }
    assert len(set(draws.values())) == len(draws)
    assert sampler_rng(1, 0, "x").random() == draws[(1, 0, "x")]
    assert sampler_rng(1, 0).random() == draws[(1, 0, None)]


def test_joint_stream_does_not_collide_with_any_name() -> None:
    joint = sampler_rng(5, 5).random()
    assert joint != sampler_rng(5, 5, "").random()


_SNIPPET = (
    "from raysweep.samplers import sampler_rng;"
    "print(repr(sampler_rng(11, 4, 'learning_rate').random()), repr(sampler_rng(11, 4).random()))"
)


@pytest.mark.slow
def test_stream_is_the_same_in_processes_with_different_hash_seeds() -> None:
    outputs = set()
    for hash_seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        result = subprocess.run(
            [sys.executable, "-c", _SNIPPET], env=env, capture_output=True, text=True, check=True
        )
        outputs.add(result.stdout)
    here = f"{sampler_rng(11, 4, 'learning_rate').random()!r} {sampler_rng(11, 4).random()!r}\n"
    assert outputs == {here}


@pytest.mark.parametrize(
    ("seed", "trial", "fragment"),
    [(-1, 0, "seed=-1"), (0, -2, "trial_number=-2"), (True, 0, "seed=True"), (1.5, 0, "seed=1.5")],
)
def test_invalid_seed_or_trial_number(seed: object, trial: object, fragment: str) -> None:
    with pytest.raises(ValueError, match="must be a non-negative int") as info:
        sampler_rng(seed, trial)  # type: ignore[arg-type]
    assert fragment in str(info.value)


def _trial(number: int, state: TrialState) -> TrialRecord:
    values = (1.0,) if state is TrialState.COMPLETE else None
    space = {"x": FloatDistribution(0.0, 1.0)}
    return TrialRecord(number, state, {"x": 0.5}, space, values=values)


def test_context_groups_history_by_state_and_freezes_it() -> None:
    history = [_trial(n, state) for n, state in enumerate(TrialState)]
    context = SamplingContext(9, 6, [StudyDirection.MINIMIZE], history)  # type: ignore[arg-type]
    history.clear()
    assert len(context.history) == 6
    assert isinstance(context.history, tuple) and context.directions == (StudyDirection.MINIMIZE,)
    assert [t.state for t in context.running] == [TrialState.RUNNING]
    assert {t.state for t in context.finished} == {
        TrialState.PRUNED,
        TrialState.COMPLETE,
        TrialState.FAILED,
    }
    assert context.rng("x").random() == sampler_rng(9, 6, "x").random()
    assert context.rng().random() == sampler_rng(9, 6, None).random()


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"directions": ()}, "directions is empty"),
        ({"history": [_trial(4, TrialState.RUNNING)]}, "trial 4 is in its own history"),
        ({"study_seed": -1}, "seed=-1"),
        ({"trial_number": -1}, "trial_number=-1"),
    ],
)
def test_context_validation(kwargs: dict[str, object], fragment: str) -> None:
    arguments: dict[str, object] = {
        "study_seed": 0,
        "trial_number": 4,
        "directions": (StudyDirection.MAXIMIZE,),
        "history": (),
    }
    arguments.update(kwargs)
    with pytest.raises(ValueError) as info:
        SamplingContext(**arguments)  # type: ignore[arg-type]
    assert fragment in str(info.value)


def test_a_history_vouched_for_skips_only_the_scan_for_the_trial_itself() -> None:
    history = (_trial(1, TrialState.COMPLETE), _trial(2, TrialState.RUNNING))
    checked = SamplingContext(0, 4, (StudyDirection.MAXIMIZE,), history)
    vouched = SamplingContext(0, 4, (StudyDirection.MAXIMIZE,), history, None, (), True)
    assert vouched.history == checked.history and vouched.running == checked.running
    with pytest.raises(ValueError, match="directions is empty"):
        SamplingContext(0, 4, (), history, history_excludes_trial=True)
