"""What each trial of an `optimize` call may run on (`optimize(resources=...)`), as shapes.

Three forms: a dict or a `TPUSlice` (one shape), a list of them (alternatives, most preferred
first), or a function of the trial's parameters and the rung it starts at, returning either.
The function runs in the TrialScheduler, once per hand-out, so a promoted trial can move to
bigger hardware. Pure: checking a request against the cluster's nodes is `_ray/_resources.py`'s.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from raysweep.orchestrator._core._tpu_slice import TPUSlice
from raysweep.orchestrator._errors import UnplaceableResourcesError
from raysweep.scheduling import (
    SLICE_POD_TYPE_LABEL,
    SLICE_WORKER_LABEL,
    ClusterNode,
    Shape,
    complete_slices,
)

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
    "a dict such as {'CPU': 1, 'GPU': 0.25, 'accelerator_type': 'H100'} or a "
    "TPUSlice(version='v5p', topology='2x2x2'), a list of such (alternatives, most preferred "
    "first), or a function (params, rung) -> either"
)


@dataclass(frozen=True)
class ResourceRequest:
    """What each trial of an `optimize` call may run on: shapes, most preferred first.

    A trial takes the first shape that can start now (an idle runner of it, or room for one):
    `[{"GPU": 1, "CPU": 1}, {"CPU": 8}]` runs on a GPU when one is free, else on eight CPUs.
    """

    # The shapes of every trial; for a function, those it gave last (what to check up front).
    shapes: tuple[Shape, ...]
    # `resources(params, rung)`: the shapes of one trial (None: `shapes` for all).
    function: Callable[[dict[str, Any], int], Any] | None = field(default=None, compare=False)

    @classmethod
    def parse(cls, resources: Any) -> ResourceRequest:
        if callable(resources) and not isinstance(resources, type):
            return cls((), resources)
        return cls(parse_shapes(resources, "resources"))

    def for_trial(self, params: Mapping[str, Any], rung: int, number: int) -> tuple[Shape, ...]:
        """The shapes trial `number` accepts, with `params` (its proposal and what it drew)
        at `rung` (the step it resumes from; 0 for a new trial)."""
        if self.function is None:
            return self.shapes
        try:
            given = self.function(dict(params), rung)
        except Exception as exc:
            raise ValueError(
                f"resources(params, rung) raised {type(exc).__name__}: {exc} for trial "
                f"{number} (rung {rung}, params {dict(params)!r}); make it return "
                f"{_FORMS} for every point of the search space"
            ) from exc
        try:
            return parse_shapes(given, "resources(params, rung)")
        except ValueError as exc:
            raise ValueError(f"for trial {number} (rung {rung}): {exc}") from None

    def __str__(self) -> str:
        if self.function is not None:
            return f"resources={getattr(self.function, '__name__', 'a function')}(params, rung)"
        return " or ".join(str(shape) for shape in self.shapes)


def parse_shapes(resources: Any, where: str) -> tuple[Shape, ...]:
    """The shapes of a dict or a TPUSlice, or a list of them (alternatives); ValueError saying
    what to fix."""
    if resources is None:
        return (Shape.of({"CPU": 1.0}),)
    if isinstance(resources, Mapping | TPUSlice):
        return (_parse_shape(resources, where),)
    if isinstance(resources, list | tuple):
        if not resources:
            raise ValueError(f"{where} is an empty list; give {_FORMS}")
        shapes = tuple(_parse_shape(r, f"{where}[{i}]") for i, r in enumerate(resources))
        if len(set(shapes)) < len(shapes):
            raise ValueError(f"{where} lists the same alternative twice: {resources!r}")
        return shapes
    raise ValueError(f"{where} must be {_FORMS}, not {type(resources).__name__}")


def _parse_shape(resources: Any, where: str) -> Shape:
    if isinstance(resources, TPUSlice):
        return resources.shape()
    if not isinstance(resources, Mapping):
        raise ValueError(
            f"{where} must be a dict such as {{'CPU': 1, 'GPU': 0.25}} or a TPUSlice, not "
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


def could_hold(total: Mapping[str, float], accelerator: str | None, shape: Shape) -> bool:
    """Whether a node with these total resources and accelerator type could ever hold one host
    of `shape` (were everything on it free)."""
    if shape.accelerator_type is not None and shape.accelerator_type != accelerator:
        return False
    return all(total.get(name, 0.0) >= amount - 1e-9 for name, amount in shape.resources)


def holdable(shape: Shape, nodes: Sequence[ClusterNode]) -> bool:
    """Whether `nodes` could ever hold `shape`: a node for it, or for a slice shape every host
    of one complete slice of its pod type."""
    if shape.pod_type is None:
        return any(could_hold(n.total, n.accelerator_type, shape) for n in nodes)
    by_id = {n.id: n for n in nodes}
    return any(
        all(could_hold(by_id[h].total, by_id[h].accelerator_type, shape) for h in hosts)
        for hosts in complete_slices(nodes, shape).values()
    )


def check_holdable(shapes: tuple[Shape, ...], nodes: Sequence[ClusterNode], what: str) -> None:
    """UnplaceableResourcesError when no node could ever hold any of `shapes` (`what` needs
    them). Nodes not known yet (none given) are not judged."""
    if not nodes or any(holdable(shape, nodes) for shape in shapes):
        return
    wanted = " or ".join(str(shape) for shape in shapes)
    raise UnplaceableResourcesError(
        f"{what} needs {wanted}, which no node of this Ray cluster can hold; the nodes have: "
        f"{describe_nodes(nodes)}. Make resources=... ask for what the cluster has, or add a "
        "node that has it"
    )


def describe_nodes(nodes: Sequence[ClusterNode]) -> str:
    """What each node has, for an error: its resources, accelerator type and TPU slice."""
    described = []
    for n in nodes:
        parts = [f"{k}: {v:g}" for k, v in sorted(n.total.items()) if k != "memory"]
        if n.accelerator_type:
            parts.append(f"accelerator_type: {n.accelerator_type}")
        if n.slice_name is not None:
            pod = n.labels.get(SLICE_POD_TYPE_LABEL, "?")
            worker = n.labels.get(SLICE_WORKER_LABEL, "?")
            parts.append(f"host {worker} of {pod} slice {n.slice_name}")
        described.append("{" + ", ".join(parts) + "}")
    return "; ".join(described) or "no nodes"
