"""What a trial may write into the study's log is bounded: attribute sizes, names, tracebacks."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from raysweep.orchestrator import ObjectiveUsageError, Trial
from raysweep.orchestrator._core._protocol import Assignment, Note
from raysweep.orchestrator._ray._runner import Runner
from raysweep.samplers import (
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
    TrialState,
)
from raysweep.scheduling import Decision, NoPruning


class _Link:
    """A link that answers every new parameter with its distribution's low end."""

    raises_on_prune = True

    def suggest(self, name: str, distribution: Distribution, notes: tuple[Note, ...]) -> Any:
        if isinstance(distribution, CategoricalDistribution):
            return distribution.choices[0]
        assert isinstance(distribution, (FloatDistribution, IntDistribution))
        return distribution.low

    def send(self, notes: tuple[Note, ...], *, wait: bool) -> Decision | None:
        return None

    def interrupted(self) -> bool:
        return False

    def flush_due(self) -> bool:
        return False

    def save_checkpoint(self, step: int, state: Any) -> str:
        raise AssertionError("no pause here")

    def load_checkpoint(self, step: int) -> Any:
        raise AssertionError("no resume here")


def _assignment() -> Assignment:
    return Assignment(
        number=4,
        attempt=0,
        params={},
        distributions={},
        proposal={},
        scheduler=NoPruning(),
        n_objectives=1,
    )


def _trial() -> Trial:
    return Trial(_assignment(), _Link())


def _limits() -> Any:
    return importlib.import_module("raysweep.orchestrator._core._limits")


def test_limits_are_named_in_one_place() -> None:
    limits = _limits()
    assert limits.MAX_USER_ATTR_KEY_CHARS == 256
    assert limits.MAX_USER_ATTR_VALUE_BYTES == 64 * 1024
    assert limits.MAX_PARAM_NAME_CHARS == 256
    assert 4096 <= limits.MAX_TRACEBACK_CHARS <= 64 * 1024


def test_a_user_attribute_at_the_limits_is_kept() -> None:
    trial = _trial()
    key = "k" * 256
    value = "v" * (64 * 1024 - 2)  # two bytes for the JSON quotes
    trial.set_user_attr(key, value)
    assert trial.user_attrs == {key: value}


def test_a_user_attribute_key_too_long_is_refused() -> None:
    with pytest.raises(ObjectiveUsageError, match=r"user attribute key of 257 characters.*256"):
        _trial().set_user_attr("k" * 257, 1)


def test_a_user_attribute_value_too_large_is_refused_saying_where_it_belongs() -> None:
    big = ["é" * 1000] * 40  # 80 kB once encoded
    with pytest.raises(ObjectiveUsageError, match=r"user attribute 'curve' .* 65536 bytes") as info:
        _trial().set_user_attr("curve", big)
    assert "checkpoint" in str(info.value) or "file" in str(info.value)


@pytest.mark.parametrize("suggest", ["float", "int", "categorical"])
def test_a_parameter_name_too_long_is_refused(suggest: str) -> None:
    trial, name = _trial(), "p" * 257
    with pytest.raises(ObjectiveUsageError, match=r"parameter name of 257 characters.*256"):
        if suggest == "float":
            trial.suggest_float(name, 0.0, 1.0)
        elif suggest == "int":
            trial.suggest_int(name, 0, 3)
        else:
            trial.suggest_categorical(name, ["a", "b"])
    assert trial.suggest_float("p" * 256, 0.0, 1.0) == 0.0


def test_a_huge_traceback_is_recorded_cut_in_the_middle() -> None:
    def objective(trial: Trial) -> float:
        raise RuntimeError("start of the message " + "x" * 500_000 + " end of the message")

    outcome, fatal = Runner()._run(None, objective, (Exception,), _assignment())  # type: ignore[arg-type]
    assert fatal is None
    assert outcome.state is TrialState.FAILED and outcome.error is not None
    error = outcome.error
    assert len(error) <= 64 * 1024
    assert error.startswith("Traceback (most recent call last)")
    assert error.rstrip().endswith("end of the message")
    assert "characters cut" in error


def test_a_short_traceback_is_kept_whole() -> None:
    assert _limits().truncate_middle("abc", 10) == "abc"
    cut = _limits().truncate_middle("a" * 50 + "b" * 50, 60)
    assert len(cut) <= 60 and cut.startswith("a") and cut.endswith("b")


def test_run_on_hosts_outside_a_tpu_slice_says_how_to_get_one() -> None:
    with pytest.raises(ObjectiveUsageError, match=r"not on a TPU slice.*resources=TPUSlice"):
        _trial().run_on_hosts(lambda host: host)
    with pytest.raises(TypeError, match="function of the host index"):
        _trial().run_on_hosts(3)  # type: ignore[arg-type]


def test_run_on_hosts_on_a_slice_gives_the_hosts_results_in_order() -> None:
    calls: list[object] = []

    def hosts(fn: Any) -> list[Any]:
        calls.append(fn)
        return [fn(i) for i in range(2)]

    trial = Trial(_assignment(), _Link(), None, hosts)
    assert trial.run_on_hosts(lambda host: host * 10) == [0, 10]
    assert len(calls) == 1
