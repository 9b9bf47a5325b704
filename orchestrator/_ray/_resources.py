"""What each trial may run on (`optimize(resources=...)`), checked against the nodes that exist.

A request no node can hold would leave a runner pending for ever; Ray does not say so, so we
do, before anything starts.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from raysweep.orchestrator._errors import UnplaceableResourcesError
from raysweep.scheduling import Shape

_SPELLINGS = {
    "cpu": "CPU",
    "cpus": "CPU",
    "num_cpus": "CPU",
    "gpu": "GPU",
    "gpus": "GPU",
    "num_gpus": "GPU",
}


# Keys of a resource dict that are not amounts.
_ACCELERATOR_KEY = "accelerator_type"
_FORMS = (
    "a dict such as {'CPU': 1, 'GPU': 0.25, 'accelerator_type': 'H100'}, or a list of such "
    "dicts (alternatives, most preferred first)"
)


@dataclass(frozen=True)
class ResourceRequest:
    """What each trial of an `optimize` call may run on: shapes, most preferred first.

    A trial takes the first shape that can start now (an idle runner of it, or room for one):
    `[{"GPU": 1, "CPU": 1}, {"CPU": 8}]` runs on a GPU when one is free, else on eight CPUs.
    """

    shapes: tuple[Shape, ...]

    @classmethod
    def parse(cls, resources: Any) -> ResourceRequest:
        if resources is None:
            return cls((Shape.of({"CPU": 1.0}),))
        if isinstance(resources, Mapping):
            return cls((_parse_shape(resources, "resources"),))
        if isinstance(resources, list | tuple):
            if not resources:
                raise ValueError(f"resources is an empty list; give {_FORMS}")
            shapes = tuple(_parse_shape(r, f"resources[{i}]") for i, r in enumerate(resources))
            if len(set(shapes)) < len(shapes):
                raise ValueError(f"resources lists the same alternative twice: {resources!r}")
            return cls(shapes)
        raise ValueError(f"resources must be {_FORMS}, not {type(resources).__name__}")

    def __str__(self) -> str:
        return " or ".join(str(shape) for shape in self.shapes)


def _parse_shape(resources: Any, where: str) -> Shape:
    if not isinstance(resources, Mapping):
        raise ValueError(
            f"{where} must be a dict such as {{'CPU': 1, 'GPU': 0.25}}, not "
            f"{type(resources).__name__}"
        )
    amounts: dict[str, float] = {}
    accelerator = None
    for key, amount in resources.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"resource names must be non-empty strings, not {key!r}")
        if key == _ACCELERATOR_KEY:
            if not isinstance(amount, str) or not amount:
                raise ValueError(
                    f"{where}['accelerator_type'] must be Ray's name of an accelerator type "
                    f"such as 'H100' or 'A100', not {amount!r}"
                )
            accelerator = amount
            continue
        if key in _SPELLINGS:
            raise ValueError(
                f"unknown resource {key!r}: Ray's names are case-sensitive; "
                f"did you mean {_SPELLINGS[key]!r}?"
            )
        if isinstance(amount, bool) or not isinstance(amount, numbers.Real):
            raise ValueError(f"{where}[{key!r}] must be a number, not {amount!r}")
        value = float(amount)
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{where}[{key!r}] must be a finite number ≥ 0, not {amount}")
        if key == "memory":
            if value and value < 1:
                raise ValueError(
                    f"{where}['memory'] is in bytes (e.g. 4 * 2**30 for 4 GiB), not {amount}"
                )
        elif value > 1 and not value.is_integer():
            raise ValueError(
                f"{where}[{key!r}] = {amount}: Ray accepts a fraction below 1 or a whole "
                "number; ask for a whole number of units, or for a share below 1"
            )
        if value > 0:
            amounts[key] = value
    if accelerator is not None and amounts.get("GPU", 0.0) <= 0:
        raise ValueError(
            f"{where} asks for accelerator_type {accelerator!r} but no GPU; add 'GPU': 1 "
            "(or a share such as 0.5)"
        )
    return Shape.of(amounts, accelerator)


def live_nodes() -> list[tuple[dict[str, float], str | None]]:
    """Total resources and accelerator type of each live node of the connected Ray cluster."""
    import ray

    from raysweep.orchestrator._ray._cluster import accelerator_type

    nodes = ray.nodes()  # type: ignore[no-untyped-call]
    return [(dict(n["Resources"]), accelerator_type(n["Resources"])) for n in nodes if n["Alive"]]


def check_placeable(
    request: ResourceRequest, nodes: Iterable[tuple[Mapping[str, float], str | None]]
) -> None:
    """Raise when no live node could ever hold any shape of `request`, naming what the nodes
    have. `nodes`: each live node's total resources and accelerator type."""
    known = list(nodes)
    if any(
        _could_hold(total, accelerator, shape)
        for shape in request.shapes
        for total, accelerator in known
    ):
        return
    described = "; ".join(
        "{"
        + ", ".join(f"{k}: {v:g}" for k, v in sorted(total.items()) if _shown(k))
        + (f", accelerator_type: {accelerator}" if accelerator else "")
        + "}"
        for total, accelerator in known
    )
    raise UnplaceableResourcesError(
        f"no node of this Ray cluster can hold a trial that needs {request}; the nodes have: "
        f"{described or 'no nodes'}. Ask for less per trial in resources=..., or add a node "
        "that has it"
    )


def _could_hold(total: Mapping[str, float], accelerator: str | None, shape: Shape) -> bool:
    if shape.accelerator_type is not None and shape.accelerator_type != accelerator:
        return False
    return all(total.get(name, 0.0) >= amount - 1e-9 for name, amount in shape.resources)


def _shown(resource: str) -> bool:
    # Ray adds per-node bookkeeping resources ("node:10.0.0.1", "memory"); they only confuse here.
    return not resource.startswith(("node:", "accelerator_type:")) and resource not in {
        "memory",
        "object_store_memory",
    }
