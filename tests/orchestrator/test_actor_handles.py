"""The typed actor handles name real remote methods, with arguments the actors accept.

The protocols in ``_ray/_handles.py`` are written by hand (Ray's handles are untyped); this keeps
them from drifting away from the classes Ray actually runs.
"""

from __future__ import annotations

import inspect
import typing

import pytest

from raysweep.orchestrator._ray import _handles
from raysweep.orchestrator._ray._actors import SamplerServiceActor, TrialSchedulerActor
from raysweep.orchestrator._ray._pool import RunnerPool
from raysweep.orchestrator._ray._runner import Runner

PAIRS = [
    (_handles.TrialSchedulerHandle, TrialSchedulerActor),
    (_handles.SamplerServiceHandle, SamplerServiceActor),
    (_handles.RunnerHandle, Runner),
    (_handles.RunnerPoolHandle, RunnerPool),
]


def _remote_methods(handle: type) -> dict[str, tuple[list[object], object]]:
    methods = {}
    for name, member in vars(handle).items():
        if isinstance(member, property):
            hint = typing.get_type_hints(member.fget, vars(_handles))["return"]
            arguments, result = typing.get_args(hint)
            methods[name] = (list(arguments), result)
    return methods


@pytest.mark.parametrize(("handle", "actor"), PAIRS, ids=[h.__name__ for h, _ in PAIRS])
def test_each_remote_method_exists_and_takes_the_declared_arguments(
    handle: type, actor: type
) -> None:
    methods = _remote_methods(handle)
    assert methods, f"{handle.__name__} declares no remote method"
    for name, (arguments, _) in methods.items():
        method = getattr(actor, name, None)
        assert callable(method), f"{actor.__name__} has no method {name!r}"
        parameters = list(inspect.signature(method).parameters.values())[1:]  # not self
        positional = [p for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD]
        required = [p for p in positional if p.default is p.empty]
        assert len(required) <= len(arguments) <= len(positional), (
            f"{handle.__name__}.{name} passes {len(arguments)} arguments; "
            f"{actor.__name__}.{name} takes {len(required)} to {len(positional)}"
        )


def test_every_public_method_a_runner_or_driver_calls_is_declared() -> None:
    # The TrialScheduler's public methods are its remote API: each one is typed in the handle.
    declared = set(_remote_methods(_handles.TrialSchedulerHandle))
    public = {
        name
        for name, member in inspect.getmembers(TrialSchedulerActor, inspect.isfunction)
        if not name.startswith("_") and name not in {"attach_sampler"}
    }
    assert public == declared
