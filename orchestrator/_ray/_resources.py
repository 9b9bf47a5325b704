"""What one trial needs from the cluster, checked against the nodes that exist.

A shape no node can hold would leave a runner pending for ever; Ray does not say so, so we do,
before anything starts.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from raysweep.orchestrator._errors import UnplaceableResourcesError

_SPELLINGS = {
    "cpu": "CPU",
    "cpus": "CPU",
    "num_cpus": "CPU",
    "gpu": "GPU",
    "gpus": "GPU",
    "num_gpus": "GPU",
}


@dataclass(frozen=True)
class ResourceShape:
    """Resources of one runner: Ray's resource names to amounts."""

    amounts: tuple[tuple[str, float], ...]

    @classmethod
    def parse(cls, resources: Mapping[str, Any] | None) -> ResourceShape:
        if resources is None:
            return cls((("CPU", 1.0),))
        if not isinstance(resources, Mapping):
            raise ValueError(
                f"resources must be a dict such as {{'CPU': 1, 'GPU': 0.25}}, not "
                f"{type(resources).__name__}"
            )
        amounts: dict[str, float] = {}
        for key, amount in resources.items():
            if not isinstance(key, str) or not key:
                raise ValueError(f"resource names must be non-empty strings, not {key!r}")
            if key in _SPELLINGS:
                raise ValueError(
                    f"unknown resource {key!r}: Ray's names are case-sensitive; "
                    f"did you mean {_SPELLINGS[key]!r}?"
                )
            if isinstance(amount, bool) or not isinstance(amount, numbers.Real):
                raise ValueError(f"resources[{key!r}] must be a number, not {amount!r}")
            value = float(amount)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"resources[{key!r}] must be a finite number ≥ 0, not {amount}")
            if value > 1 and not value.is_integer():
                raise ValueError(
                    f"resources[{key!r}] = {amount}: Ray accepts a fraction below 1 or a whole "
                    "number; ask for a whole number of units, or for a share below 1"
                )
            if value > 0:
                amounts[key] = value
        return cls(tuple(sorted(amounts.items())))

    def as_dict(self) -> dict[str, float]:
        return dict(self.amounts)

    def actor_options(self) -> dict[str, Any]:
        wanted = self.as_dict()
        options: dict[str, Any] = {
            "num_cpus": wanted.pop("CPU", 0.0),
            "num_gpus": wanted.pop("GPU", 0.0),
        }
        if wanted:
            options["resources"] = wanted
        return options

    def fits(self, capacity: Mapping[str, float]) -> bool:
        return all(capacity.get(name, 0.0) >= amount - 1e-9 for name, amount in self.amounts)

    def __str__(self) -> str:
        return "{" + ", ".join(f"{k}: {v:g}" for k, v in self.amounts) + "}"


def live_node_capacities() -> list[dict[str, float]]:
    """Total resources of each live node of the Ray cluster this process is connected to."""
    import ray

    nodes = ray.nodes()  # type: ignore[no-untyped-call]
    return [dict(n["Resources"]) for n in nodes if n["Alive"]]


def check_placeable(shape: ResourceShape, node_capacities: Iterable[Mapping[str, float]]) -> None:
    """Raise when no live node could ever hold `shape`, naming what the nodes have."""
    capacities = list(node_capacities)
    if any(shape.fits(capacity) for capacity in capacities):
        return
    described = "; ".join(
        "{" + ", ".join(f"{k}: {v:g}" for k, v in sorted(c.items()) if _shown(k)) + "}"
        for c in capacities
    )
    raise UnplaceableResourcesError(
        f"no node of this Ray cluster can hold a trial that needs {shape}; the nodes have: "
        f"{described or 'no nodes'}. Ask for less per trial in resources=..., or add a node "
        "that has it"
    )


def _shown(resource: str) -> bool:
    # Ray adds per-node bookkeeping resources ("node:10.0.0.1", "memory"); they only confuse here.
    return not resource.startswith("node:") and resource not in {
        "memory",
        "object_store_memory",
    }
