"""What one attempt of a trial held, and the energy it is attributed: resource-seconds, and CPU
(RAPL) and GPU (NVML) energy read from the hardware's own counters.

**Resource-seconds** (`held_seconds`) are exact: what the attempt reserved times how long it
held it, in Ray's units (a TPU resource counts chips; a GPU share gives a share of the seconds).

**Energy counters measure devices, not trials.** A CPU package's counter counts every process on
the node, and a card's counter counts every trial sharing the card. So a trial's energy is
*apportioned by share* (`APPORTIONED_BY_SHARE`, recorded with each result so that a log can tell
if the rule ever changes):

- GPU: the energy of the cards the attempt's process sees, over the attempt, times the trial's
  share of each card (`GPU` when below 1, else 1: Ray hands out a fraction of one card or whole
  cards). Two trials at 0.5 of one card get half of its energy each, whichever of them worked
  harder: the counter cannot tell them apart, and sharing the card is what was paid for.
- CPU: the energy of all of the node's packages, over the attempt, times the trial's CPUs over
  the node's CPUs (both in Ray's units, so a node started with fewer CPUs than it has still
  shares its packages among what Ray hands out). Idle and other processes' power is spread in
  the same way; it is an apportionment of a reservation, not a measurement of one process.

A share of 0 (a CPU-only trial's GPU) is attributed 0 J without reading anything. The devices'
own totals are kept beside the shares (`EnergyUse.cpu_package_joules`, `gpu_card_joules`), so a
reader sees what was measured and what was inferred. Whatever cannot be read or trusted is
None, never a guess: the counters are not readable, the devices changed during the attempt, or
the attempt's cards are not the ones its reservation names.

**RAPL** (`RaplReader`): the powercap tree (`/sys/class/powercap`) has a zone `intel-rapl:<N>` per
CPU package (or die: `package-0-die-1`), whose `energy_uj` counts microjoules and wraps past
`max_energy_range_uj`. The kernel's powercap RAPL driver also serves AMD (Zen and later) under the
same control type, so AMD packages are `intel-rapl:<N>` as well; no kernel names a zone
`amd-rapl`, so that name is not matched. Counted are top-level zones named `package-...`; not their
sub-zones (`intel-rapl:0:0`, core or uncore: parts of the package; dram: not CPU), not `psys`
(the whole platform, which contains the packages), not `intel-rapl-mmio:<N>` (the same package
read another way). Since Linux 5.10 `energy_uj` is readable by root only (CVE-2020-8694), so a
worker that is not root gets None. A wrap is seen only as a counter that went down, so two
readings are trusted only when taken closer together than the counter could wrap at
`_PACKAGE_POWER_CEILING_W` (about 65 s on AMD, 260 s on Intel): an attempt longer than that
needs `EnergyMeter.sample()` in between, else its CPU energy is None.

**NVML** (`NvmlReader`): `nvmlDeviceGetTotalEnergyConsumption`, millijoules since the driver
loaded (64 bits: no wrap), through `pynvml` (the `nvidia-ml-py` distribution) when it can be
imported, or any binding with the same calls (`NvmlBinding`). The cards are those the process's
`CUDA_VISIBLE_DEVICES` names, as CUDA reads it: unset is every card, empty none; GPU UUIDs (or a
unique prefix of one, `GPU-...`) name a card; integers are CUDA's ordinals, which are NVML's
indices when `CUDA_DEVICE_ORDER=PCI_BUS_ID` or when all cards are one model (CUDA's default
order puts faster cards first; equal ones keep bus order), so integers on a node of mixed cards
without `PCI_BUS_ID` give None. A MIG instance (`MIG-...`) has no energy counter of its own:
None. Any NVML error (no driver, a card too old for the counter) is None.

Ray-free; reads files and, through the binding it is given, the driver.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

__all__ = [
    "APPORTIONED_BY_SHARE",
    "DEFAULT_POWERCAP_ROOT",
    "POWERCAP_ROOT_VARIABLE",
    "TALLY_KEYS",
    "EnergyMeter",
    "EnergyUse",
    "NvmlBinding",
    "NvmlReader",
    "RaplCounter",
    "RaplReader",
    "TrialEnergy",
    "held_resources",
    "held_seconds",
    "load_pynvml",
    "nvml_joules_between",
    "rapl_joules_between",
    "rapl_wrap_free_seconds",
    "tally_close",
    "tally_open",
    "tally_sum",
]

APPORTIONED_BY_SHARE = "apportioned by share"
DEFAULT_POWERCAP_ROOT = "/sys/class/powercap"
POWERCAP_ROOT_VARIABLE = "RAYSWEEP_POWERCAP_ROOT"

# Ray's resource names and the keys of their resource-seconds.
_HELD_KEYS = (("CPU", "cpu_s"), ("GPU", "gpu_s"), ("TPU", "tpu_chip_s"))

# Twice the most any server CPU package draws today (500 W parts, bursting above that briefly):
# the fastest its counter could wrap, so the longest two readings can be apart and be trusted.
_PACKAGE_POWER_CEILING_W = 1000.0
_PACKAGE_ZONE = re.compile(r"intel-rapl:[0-9]+")


def held_seconds(resources: Mapping[str, float], seconds: float) -> dict[str, float]:
    """The resource-seconds one attempt held: `resources` (Ray's names: CPU, GPU, TPU chips;
    others, memory and custom ones, are not counted) for `seconds`. Every key is present."""
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"an attempt holds its resources for a finite time ≥ 0, not {seconds}")
    return {key: _amount(resources, name) * seconds for name, key in _HELD_KEYS}


def held_resources(placement: Mapping[str, Any]) -> dict[str, float]:
    """What an attempt holds in all, from its placement's JSON: the resources on each host
    times its hosts (on a TPU slice, every host's chips count)."""
    hosts = max(1, len(placement.get("nodes") or ()))
    return {name: float(amount) * hosts for name, amount in placement["resources"].items()}


def _amount(resources: Mapping[str, float], name: str) -> float:
    amount = float(resources.get(name, 0.0))
    if not math.isfinite(amount) or amount < 0:
        raise ValueError(f"resources[{name!r}] must be a finite number ≥ 0, not {amount}")
    return amount


# ---------------------------------------------------------------------------------------- RAPL


@dataclass(frozen=True)
class RaplCounter:
    """One package zone's counter: microjoules, wrapping to 0 past `max_energy_range_uj`."""

    energy_uj: int
    max_energy_range_uj: int


class RaplReader:
    """Reads the package zones of a powercap tree (`root`, the system's by default)."""

    def __init__(self, root: str | os.PathLike[str] = DEFAULT_POWERCAP_ROOT) -> None:
        self._root = Path(root)

    def snapshot(self) -> dict[str, RaplCounter] | None:
        """Each package zone's counter, by zone; None when the tree is missing, has no package
        zone, or any package's counter cannot be read (a partial sum would be a guess)."""
        try:
            entries = sorted(os.listdir(self._root))
        except OSError:
            return None
        counters: dict[str, RaplCounter] = {}
        for entry in entries:
            if not _PACKAGE_ZONE.fullmatch(entry):
                continue
            zone = self._root / entry
            name = _read_text(zone / "name")
            if name is None:
                return None  # cannot tell a package from psys, which contains the packages
            if not name.startswith("package-"):
                continue
            energy = _read_int(zone / "energy_uj")
            top = _read_int(zone / "max_energy_range_uj")
            if energy is None or top is None or top <= 0 or not 0 <= energy <= top:
                return None
            counters[entry] = RaplCounter(energy, top)
        return counters or None


def rapl_joules_between(
    before: Mapping[str, RaplCounter], after: Mapping[str, RaplCounter]
) -> float | None:
    """The packages' energy between two snapshots, in joules, taking a counter that went down
    as one wrap (more than one cannot be seen: see `rapl_wrap_free_seconds`). None when the
    zones differ (a package went offline or came back: its energy in between is unknown)."""
    if before.keys() != after.keys():
        return None
    total_uj = 0
    for zone, start in before.items():
        end = after[zone]
        if end.max_energy_range_uj != start.max_energy_range_uj:
            return None
        delta = end.energy_uj - start.energy_uj
        if delta < 0:
            delta += start.max_energy_range_uj + 1
        total_uj += delta
    return total_uj / 1e6


def rapl_wrap_free_seconds(snapshot: Mapping[str, RaplCounter]) -> float:
    """The longest two readings may be apart for `rapl_joules_between` to be trusted: the
    fastest any of these counters could wrap, drawing `_PACKAGE_POWER_CEILING_W`."""
    smallest = min(c.max_energy_range_uj for c in snapshot.values())
    return (smallest + 1) / (_PACKAGE_POWER_CEILING_W * 1e6)


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, ValueError):
        return None


def _read_int(path: Path) -> int | None:
    text = _read_text(path)
    if text is None or not text.isdigit():
        return None
    return int(text)


# ---------------------------------------------------------------------------------------- NVML


class NvmlBinding(Protocol):
    """The NVML calls this module makes, as `pynvml` spells them (a test passes a fake)."""

    NVMLError: type[Exception]

    def nvmlInit(self) -> None: ...

    def nvmlShutdown(self) -> None: ...

    def nvmlDeviceGetCount(self) -> int: ...

    def nvmlDeviceGetHandleByIndex(self, index: int) -> object: ...

    def nvmlDeviceGetUUID(self, handle: object) -> str | bytes: ...

    def nvmlDeviceGetName(self, handle: object) -> str | bytes: ...

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: object) -> int: ...


def load_pynvml() -> NvmlBinding | None:
    """`pynvml` if it can be imported (it is optional), else None."""
    try:
        module = importlib.import_module("pynvml")
    except ImportError:
        return None
    return cast(NvmlBinding, module)


class NvmlReader:
    """Reads the energy counters of the cards a process sees.

    `cuda_visible_devices` and `cuda_device_order` are those variables' values in the process
    (None: unset); `nvml` None reads nothing (no binding: every snapshot is None).
    """

    def __init__(
        self,
        nvml: NvmlBinding | None,
        *,
        cuda_visible_devices: str | None,
        cuda_device_order: str | None = None,
    ) -> None:
        self._nvml = nvml
        self._visible = cuda_visible_devices
        self._order = cuda_device_order

    @classmethod
    def for_this_process(cls) -> NvmlReader:
        return cls(
            load_pynvml(),
            cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
            cuda_device_order=os.environ.get("CUDA_DEVICE_ORDER"),
        )

    def snapshot(self) -> dict[int, int] | None:
        """Each visible card's counter in millijoules, by NVML index ({} when none is
        visible); None when NVML fails or the visible cards cannot be told."""
        nvml = self._nvml
        if nvml is None:
            return None
        try:
            nvml.nvmlInit()
        except nvml.NVMLError:
            return None
        try:
            cards = self._cards(nvml)
            if cards is None:
                return None
            return {
                index: int(
                    nvml.nvmlDeviceGetTotalEnergyConsumption(nvml.nvmlDeviceGetHandleByIndex(index))
                )
                for index in cards
            }
        except nvml.NVMLError:
            return None
        finally:
            # NVML counts initialisations; the readings stand whether or not this one ends.
            with contextlib.suppress(nvml.NVMLError):
                nvml.nvmlShutdown()

    def _cards(self, nvml: NvmlBinding) -> tuple[int, ...] | None:
        count = nvml.nvmlDeviceGetCount()
        if self._visible is None:
            return tuple(range(count))
        visible = self._visible.strip()
        # "NoDevFiles" is what some schedulers set for "no GPU", and Ray reads it so.
        if not visible or visible == "NoDevFiles":
            return ()
        uuids: list[str] | None = None
        cards: list[int] = []
        by_ordinal = False
        for entry in (e.strip() for e in visible.split(",")):
            if entry.isascii() and entry.isdigit():
                index = int(entry)
                if index >= count:
                    return None
                by_ordinal = True
            elif entry.startswith("GPU-"):
                if uuids is None:
                    uuids = [
                        _text(nvml.nvmlDeviceGetUUID(nvml.nvmlDeviceGetHandleByIndex(i)))
                        for i in range(count)
                    ]
                matches = [i for i, uuid in enumerate(uuids) if uuid.startswith(entry)]
                if len(matches) != 1:
                    return None
                index = matches[0]
            else:
                return None  # a MIG instance, or an entry CUDA would stop at
            if index in cards:
                return None
            cards.append(index)
        if by_ordinal and self._order != "PCI_BUS_ID" and not _one_model(nvml, count):
            return None
        return tuple(cards)


def _one_model(nvml: NvmlBinding, count: int) -> bool:
    names = {
        _text(nvml.nvmlDeviceGetName(nvml.nvmlDeviceGetHandleByIndex(i))) for i in range(count)
    }
    return len(names) <= 1


def _text(value: str | bytes) -> str:
    # Older pynvml releases return bytes.
    return value.decode() if isinstance(value, bytes) else value


def nvml_joules_between(before: Mapping[int, int], after: Mapping[int, int]) -> float | None:
    """The cards' energy between two snapshots, in joules; None when the cards differ or a
    counter went down (the driver was reloaded: it counts from 0 again)."""
    if before.keys() != after.keys():
        return None
    total_mj = 0
    for index, start in before.items():
        delta = after[index] - start
        if delta < 0:
            return None
        total_mj += delta
    return total_mj / 1e3


# --------------------------------------------------------------------------------- the meter


@dataclass(frozen=True)
class EnergyUse:
    """The energy one attempt is attributed, and the measurements it was apportioned from.

    `cpu_joules` / `gpu_joules` are the devices' energy times the trial's share (`attribution`
    names the rule); None when not known. `cpu_package_joules` is all of the node's packages,
    `gpu_card_joules` all of `gpu_cards` (NVML indices), over the attempt, with whoever else
    used them; None when not read (a share of 0 reads nothing) or not known.
    """

    seconds: float
    cpu_joules: float | None
    gpu_joules: float | None
    cpu_share: float
    gpu_share: float
    cpu_package_joules: float | None
    gpu_card_joules: float | None
    gpu_cards: tuple[int, ...]
    attribution: str = APPORTIONED_BY_SHARE

    def to_json(self) -> dict[str, Any]:
        """The form the log records (with the attempt's end)."""
        return {
            "seconds": self.seconds,
            "cpu_joules": self.cpu_joules,
            "gpu_joules": self.gpu_joules,
            "cpu_share": self.cpu_share,
            "gpu_share": self.gpu_share,
            "cpu_package_joules": self.cpu_package_joules,
            "gpu_card_joules": self.gpu_card_joules,
            "gpu_cards": list(self.gpu_cards),
            "attribution": self.attribution,
        }


class EnergyMeter:
    """Measures one attempt: `start()` when it begins, `stop()` when it ends, and `sample()` in
    between, at least every `sample_within_s` seconds, for the CPU's counters not to wrap
    unseen (it may be called from another thread).

    `resources` is what the attempt holds (Ray's names), `node_cpus` the CPUs Ray has on its
    node; `rapl` / `nvml` None measures nothing there (the energy is then None unless the
    share is 0). `clock` is monotonic seconds.
    """

    def __init__(
        self,
        *,
        resources: Mapping[str, float],
        node_cpus: float,
        rapl: RaplReader | None,
        nvml: NvmlReader | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        cpus = _amount(resources, "CPU")
        gpus = _amount(resources, "GPU")
        if not math.isfinite(node_cpus) or node_cpus <= 0:
            raise ValueError(f"node_cpus is the node's CPUs in Ray, a number > 0, not {node_cpus}")
        if cpus > node_cpus:
            raise ValueError(f"the attempt holds {cpus:g} CPUs, more than its node's {node_cpus:g}")
        if gpus > 1 and not gpus.is_integer():
            raise ValueError(f"Ray hands out a share of one GPU or whole GPUs, not {gpus:g}")
        self._cpu_share = cpus / node_cpus
        self._gpu_share = min(gpus, 1.0)
        # Ray makes exactly the cards it assigned visible; any other count means the process
        # sees cards that are not (all) the trial's.
        self._expected_cards = 0 if gpus == 0 else max(1, int(gpus))
        self._rapl = rapl if self._cpu_share > 0 else None
        self._nvml = nvml if self._gpu_share > 0 else None
        self._clock = clock
        self._lock = threading.Lock()
        self._started = False
        self._stopped = False
        self._started_at = 0.0
        self._rapl_last: dict[str, RaplCounter] | None = None
        self._rapl_last_at = 0.0
        # The packages' energy so far; None once any stretch of the attempt is unknown.
        self._rapl_joules: float | None = None
        self._nvml_start: dict[int, int] | None = None

    @classmethod
    def for_this_process(cls, *, resources: Mapping[str, float], node_cpus: float) -> EnergyMeter:
        """A meter over this machine's powercap tree and, if `pynvml` is there, its cards."""
        return cls(
            resources=resources,
            node_cpus=node_cpus,
            # A container may see the host's tree mounted elsewhere.
            rapl=RaplReader(os.environ.get(POWERCAP_ROOT_VARIABLE, DEFAULT_POWERCAP_ROOT)),
            nvml=NvmlReader.for_this_process(),
        )

    @property
    def sample_within_s(self) -> float | None:
        """The longest `sample()` may wait after the last reading; None once the CPU's energy
        is not being measured (not read, unknown, or before `start()`)."""
        with self._lock:
            if self._rapl_last is None:
                return None
            return rapl_wrap_free_seconds(self._rapl_last)

    def start(self) -> None:
        with self._lock:
            if self._started:
                raise RuntimeError("this EnergyMeter was started already; use one per attempt")
            self._started = True
            self._started_at = self._rapl_last_at = self._clock()
            if self._rapl is not None:
                self._rapl_last = self._rapl.snapshot()
                self._rapl_joules = 0.0 if self._rapl_last is not None else None
            if self._nvml is not None:
                self._nvml_start = self._nvml.snapshot()

    def sample(self) -> None:
        """Folds the CPU's counters in since the last reading."""
        with self._lock:
            self._check_running("sample")
            self._sample_rapl(self._clock())

    def stop(self) -> EnergyUse:
        with self._lock:
            self._check_running("stop")
            self._stopped = True
            return self._use()

    def read(self) -> EnergyUse:
        """The energy so far, the attempt going on (for an objective that reports it)."""
        with self._lock:
            self._check_running("read")
            return self._use()

    def _use(self) -> EnergyUse:
        now = self._clock()
        self._sample_rapl(now)
        cards, card_joules = self._gpu_at_stop()
        seconds = now - self._started_at
        cpu_package = self._rapl_joules
        return EnergyUse(
            seconds=seconds,
            cpu_joules=_apportion(cpu_package, self._cpu_share),
            gpu_joules=_apportion(card_joules, self._gpu_share),
            cpu_share=self._cpu_share,
            gpu_share=self._gpu_share,
            cpu_package_joules=cpu_package,
            gpu_card_joules=card_joules,
            gpu_cards=cards,
        )

    def _check_running(self, what: str) -> None:
        if not self._started:
            raise RuntimeError(f"EnergyMeter.{what}() before start()")
        if self._stopped:
            raise RuntimeError(f"EnergyMeter.{what}() after stop()")

    def _sample_rapl(self, now: float) -> None:
        last = self._rapl_last
        if self._rapl is None or last is None or self._rapl_joules is None:
            return
        current = self._rapl.snapshot()
        joules = None
        if current is not None and now - self._rapl_last_at <= rapl_wrap_free_seconds(last):
            joules = rapl_joules_between(last, current)
        if joules is None:
            self._rapl_joules = None
            self._rapl_last = None
        else:
            self._rapl_joules += joules
            self._rapl_last = current
            self._rapl_last_at = now

    def _gpu_at_stop(self) -> tuple[tuple[int, ...], float | None]:
        if self._nvml is None or self._nvml_start is None:
            return (), None
        cards = tuple(sorted(self._nvml_start))
        if len(cards) != self._expected_cards:
            return cards, None
        end = self._nvml.snapshot()
        if end is None:
            return cards, None
        return cards, nvml_joules_between(self._nvml_start, end)


def _apportion(measured: float | None, share: float) -> float | None:
    if share == 0:
        return 0.0
    return None if measured is None else measured * share


# ----- per trial, as the study's state keeps it ---------------------------------------------


@dataclass(frozen=True)
class TrialEnergy:
    """The energy a trial is attributed so far, over all its attempts (`Trial.energy()`);
    a figure None is not known (no counter readable, or an attempt that was not measured)."""

    cpu_joules: float | None
    gpu_joules: float | None

    @property
    def joules(self) -> float | None:
        """CPU and GPU together; None unless both are known."""
        if self.cpu_joules is None or self.gpu_joules is None:
            return None
        return self.cpu_joules + self.gpu_joules

    @classmethod
    def of(cls, before: Mapping[str, float | None] | None, now: EnergyUse | None) -> TrialEnergy:
        """Earlier attempts' figures (`Assignment.energy_before`) plus this one's so far."""
        figures = []
        for key in _ENERGY_KEYS:
            earlier = 0.0 if before is None else before.get(key)
            current = None if now is None else getattr(now, key)
            figures.append(None if earlier is None or current is None else earlier + current)
        return cls(*figures)


_ENERGY_KEYS = ("cpu_joules", "gpu_joules")
TALLY_KEYS = ("cpu_s", "gpu_s", "tpu_chip_s", *_ENERGY_KEYS)


def tally_open(
    tally: Mapping[str, Any] | None, resources: Mapping[str, float], ts: float
) -> dict[str, Any]:
    """A trial's tally (JSON values) once an attempt starts holding `resources` at `ts`."""
    out: dict[str, Any] = dict(tally) if tally else {key: 0.0 for key in TALLY_KEYS}
    out["since"], out["resources"] = ts, dict(resources)
    return out


def tally_close(
    tally: Mapping[str, Any] | None, ts: float, energy: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """The tally once the attempt that held since `tally_open` ends at `ts`; `energy` is what
    its runner measured (`EnergyUse.to_json`), None when nothing came (a lost runner): the
    trial's energy is then unknown for good, never the sum of the attempts that were read."""
    if tally is None:
        return None
    out = dict(tally)
    since, resources = out.pop("since", None), out.pop("resources", None)
    if since is None:
        # Closed already (a result sent on after its attempt was interrupted): only energy.
        if energy is None:
            return out
    else:
        for key, amount in held_seconds(resources or {}, max(0.0, ts - since)).items():
            out[key] = out.get(key, 0.0) + amount
    for key in _ENERGY_KEYS:
        measured = None if energy is None else energy.get(key)
        so_far = out.get(key)
        out[key] = None if measured is None or so_far is None else so_far + float(measured)
    return out


def tally_sum(tallies: Iterable[Mapping[str, Any] | None]) -> dict[str, Any]:
    """A study's totals over its trials' tallies: resource-seconds summed; energy summed over
    the trials where it is known, with how many trials it is not known for."""
    total: dict[str, Any] = {key: 0.0 for key in TALLY_KEYS}
    total["energy_unknown_trials"] = 0
    for tally in tallies:
        if tally is None:
            continue
        for key in ("cpu_s", "gpu_s", "tpu_chip_s"):
            total[key] += float(tally.get(key) or 0.0)
        unknown = False
        for key in _ENERGY_KEYS:
            if tally.get(key) is None:
                unknown = True
            else:
                total[key] += float(tally[key])
        total["energy_unknown_trials"] += unknown
    return total
