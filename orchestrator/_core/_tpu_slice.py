"""A TPU slice as a trial's hardware: a generation and a topology, placed as one gang.

A slice is hosts of chips wired together; a trial that asks for one gets every host of one slice
or nothing. The geometry follows Google's published conventions (and Ray's, which label each
host with its slice's name, worker id and pod type): a host has 4 chips, except single-host
v5e/v6e slices of up to 8; a pod type counts TensorCores (two per chip, one on v5e and v6e),
so v5p in a 2x2x2 topology is 8 chips on 2 hosts, pod type `v5p-16`. Pure: the shape it gives
is placed by the planner and started by the runner pool.
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass

from raysweep.scheduling import Shape

__all__ = ["TPUSlice"]

# generation -> (dimensions of its topologies, TensorCores per chip). v5e is named
# "v5litepod" in pod types.
_GENERATIONS: dict[str, tuple[int, int]] = {
    "v2": (2, 2),
    "v3": (2, 2),
    "v4": (3, 2),
    "v5p": (3, 2),
    "v5litepod": (2, 1),
    "v6e": (2, 1),
    "v7x": (3, 2),
}
_ALIASES = {"v5e": "v5litepod"}
_CHIPS_PER_HOST = 4
# Generations whose single-host slices hold up to 8 chips on one host, and those topologies.
_WIDE_HOSTS = frozenset({"v5litepod", "v6e"})
_WIDE_SINGLE_HOST = frozenset({"1x1", "2x2", "2x4"})


def _generation(version: str) -> str:
    text = re.sub(r"^tpu-?v?", "v", version.strip().lower())
    return _ALIASES.get(text, text)


@dataclass(frozen=True)
class TPUSlice:
    """One TPU slice per trial: `TPUSlice(version="v5p", topology="2x2x2")`.

    The trial's objective runs on host 0 of the slice (holding `cpus_per_host` CPUs there);
    `trial.run_on_hosts(fn)` runs `fn(host_index)` on every host at once, each call holding
    that host's chips, and returns the results in host order.
    """

    version: str
    topology: str
    cpus_per_host: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.version, str) or _generation(self.version) not in _GENERATIONS:
            known = ", ".join(sorted({*_GENERATIONS, *_ALIASES} - {"v5litepod"}))
            raise ValueError(
                f"TPUSlice version must be a TPU generation ({known}), not {self.version!r}"
            )
        dims, _ = _GENERATIONS[self._gen]
        example = "2x2x2" if dims == 3 else "4x4"
        parts = self.topology.strip().lower().split("x") if isinstance(self.topology, str) else []
        if len(parts) != dims or not all(p.isdecimal() and int(p) > 0 for p in parts):
            raise ValueError(
                f"TPUSlice topology for {self.version} is {dims} chip counts joined by 'x' "
                f"(such as {example!r}), not {self.topology!r}"
            )
        cpus = self.cpus_per_host
        if isinstance(cpus, bool) or not isinstance(cpus, numbers.Real) or not cpus >= 0:
            raise ValueError(f"TPUSlice cpus_per_host must be a number ≥ 0, not {cpus!r}")
        if not math.isfinite(cpus) or (cpus > 1 and not float(cpus).is_integer()):
            raise ValueError(
                f"TPUSlice cpus_per_host = {cpus}: ask for a whole number of CPUs, or a share "
                "below 1"
            )
        if self.chips > self.chips_per_host and self.chips % self.chips_per_host:
            raise ValueError(
                f"a {self.version} slice of topology {self.topology} has {self.chips} chips, "
                f"not whole hosts of {self.chips_per_host}; give a topology whose chips are a "
                f"multiple of {self.chips_per_host} (such as {example!r})"
            )
        if self.chips < self.chips_per_host:
            raise ValueError(
                f"a {self.version} slice of topology {self.topology} has {self.chips} chips, "
                f"less than one host of {self.chips_per_host}: ask for at least one host "
                f"(such as {example!r})"
            )

    @property
    def _gen(self) -> str:
        return _generation(self.version)

    @property
    def chips(self) -> int:
        return math.prod(int(p) for p in self.topology.strip().lower().split("x"))

    @property
    def chips_per_host(self) -> int:
        normal = self.topology.strip().lower()
        if self._gen in _WIDE_HOSTS and normal in _WIDE_SINGLE_HOST:
            return self.chips
        return _CHIPS_PER_HOST

    @property
    def hosts(self) -> int:
        return self.chips // self.chips_per_host

    @property
    def pod_type(self) -> str:
        """Ray's `ray.io/tpu-pod-type` label of the slice's hosts, such as `v5p-16`."""
        _, cores = _GENERATIONS[self._gen]
        return f"{self._gen}-{self.chips * cores}"

    def shape(self) -> Shape:
        """What the planner places: per host its chips and CPUs, on every host of one slice."""
        per_host = {"TPU": float(self.chips_per_host), "CPU": float(self.cpus_per_host)}
        return Shape.of(per_host, hosts=self.hosts, pod_type=self.pod_type)

    def __str__(self) -> str:
        hosts = f"{self.hosts} host{'s' if self.hosts != 1 else ''}"
        return f"TPUSlice({self.version} {self.topology}: {self.pod_type}, {hosts})"
