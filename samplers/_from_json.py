"""Read a shipped sampler back from the ``to_json()`` form a study's log records."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from raysweep.samplers._base import Sampler


def sampler_from_json(data: Mapping[str, Any]) -> Sampler:
    """The raysweep sampler whose ``to_json()`` gave ``data``.

    Only the samplers this package ships can be rebuilt (a user's own class is not known by
    name); ``ValueError`` names the ones that can. Arguments are passed to the constructor,
    which validates them as it would any call.
    """
    if not isinstance(data, Mapping) or set(data) != {"class", "arguments"}:
        raise TypeError(
            f"a sampler's JSON form is a dict with 'class' and 'arguments', got {data!r}"
        )
    # Late: the package imports the samplers that call this (MultiFidelitySampler's base).
    import raysweep.samplers as package

    shipped = {
        name: value
        for name in package.__all__
        if isinstance(value := getattr(package, name), type)
        and issubclass(value, Sampler)
        and value is not Sampler
    }
    name, arguments = data["class"], data["arguments"]
    if name not in shipped:
        raise ValueError(
            f"sampler class {name!r} is not one raysweep ships, so it cannot be rebuilt from "
            f"its JSON form; the shipped ones are {sorted(shipped)}"
        )
    if not isinstance(arguments, Mapping):
        raise TypeError(f"sampler arguments {arguments!r} must be a dict")
    sampler: Sampler = shipped[name](**arguments)
    return sampler
