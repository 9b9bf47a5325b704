"""Hardware accounting: resource-seconds, RAPL and NVML counters read between two moments, and
an attempt's energy apportioned by its share of the devices. The counters are recorded files
in a fake powercap tree and a fake NVML that replays recorded values."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from raysweep.orchestrator._core._hardware_use import (
    APPORTIONED_BY_SHARE,
    EnergyMeter,
    NvmlReader,
    RaplCounter,
    RaplReader,
    held_seconds,
    load_pynvml,
    nvml_joules_between,
    rapl_joules_between,
    rapl_wrap_free_seconds,
)

# What an Intel server package's counter wraps past (2^32 units of 61 µJ).
INTEL_RANGE_UJ = 262_143_328_850


# ------------------------------------------------------------------------------ held seconds


def test_held_seconds_counts_cpus_gpu_shares_and_tpu_chips_only() -> None:
    held = held_seconds(
        {"CPU": 2.0, "GPU": 0.25, "TPU": 4.0, "fast_disk": 1.0, "memory": 2.0**30}, 10.0
    )
    assert held == {"cpu_s": 20.0, "gpu_s": 2.5, "tpu_chip_s": 40.0}


def test_held_seconds_names_every_key_when_nothing_is_held() -> None:
    assert held_seconds({"CPU": 1.0}, 3.5) == {"cpu_s": 3.5, "gpu_s": 0.0, "tpu_chip_s": 0.0}
    assert held_seconds({}, 0.0) == {"cpu_s": 0.0, "gpu_s": 0.0, "tpu_chip_s": 0.0}


@pytest.mark.parametrize("seconds", [-1.0, math.nan, math.inf])
def test_held_seconds_refuses_a_time_that_is_not_one(seconds: float) -> None:
    with pytest.raises(ValueError, match="finite time"):
        held_seconds({"CPU": 1.0}, seconds)


def test_held_seconds_refuses_a_negative_amount() -> None:
    with pytest.raises(ValueError, match=r"resources\['GPU'\]"):
        held_seconds({"GPU": -1.0}, 1.0)


# ---------------------------------------------------------------------------- powercap tree


def _write_zone(directory: Path, name: str, energy_uj: int, max_range_uj: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "name").write_text(f"{name}\n")
    (directory / "energy_uj").write_text(f"{energy_uj}\n")
    (directory / "max_energy_range_uj").write_text(f"{max_range_uj}\n")


def _set_energy(root: Path, zone: str, energy_uj: int) -> None:
    (root / zone / "energy_uj").write_text(f"{energy_uj}\n")


def _powercap_tree(root: Path, package_0_uj: int, package_1_uj: int) -> Path:
    """Two packages with their sub-zones, as /sys/class/powercap lists them (every zone at the
    top, sub-zones also inside their package), beside zones that must not be counted: the
    MMIO view of package 0 and the platform (psys), which contains both packages."""
    (root / "intel-rapl").mkdir(parents=True)
    (root / "intel-rapl" / "enabled").write_text("1\n")
    _write_zone(root / "intel-rapl:0", "package-0", package_0_uj, INTEL_RANGE_UJ)
    _write_zone(root / "intel-rapl:1", "package-1", package_1_uj, INTEL_RANGE_UJ)
    for sub, name in (("intel-rapl:0:0", "core"), ("intel-rapl:1:0", "dram")):
        package = sub.rsplit(":", 1)[0]
        _write_zone(root / sub, name, 7_000_000, INTEL_RANGE_UJ)
        _write_zone(root / package / sub, name, 7_000_000, INTEL_RANGE_UJ)
    _write_zone(root / "intel-rapl:2", "psys", 50_000_000, INTEL_RANGE_UJ)
    _write_zone(root / "intel-rapl-mmio:0", "package-0", package_0_uj, INTEL_RANGE_UJ)
    return root


def _move_everything_else(root: Path, uj: int) -> None:
    """Advances every zone that is not a package, so counting any of them shows."""
    for zone in ("intel-rapl:0:0", "intel-rapl:1:0", "intel-rapl:2", "intel-rapl-mmio:0"):
        _set_energy(root, zone, uj)
    for package, sub in (("intel-rapl:0", "intel-rapl:0:0"), ("intel-rapl:1", "intel-rapl:1:0")):
        (root / package / sub / "energy_uj").write_text(f"{uj}\n")


def test_rapl_reads_the_packages_and_nothing_they_contain_or_duplicate(tmp_path: Path) -> None:
    root = _powercap_tree(tmp_path / "powercap", 1_000_000, 2_000_000)
    reader = RaplReader(root)
    before = reader.snapshot()
    assert before == {
        "intel-rapl:0": RaplCounter(1_000_000, INTEL_RANGE_UJ),
        "intel-rapl:1": RaplCounter(2_000_000, INTEL_RANGE_UJ),
    }
    _set_energy(root, "intel-rapl:0", 4_000_000)
    _set_energy(root, "intel-rapl:1", 2_500_000)
    _move_everything_else(root, 900_000_000)
    after = reader.snapshot()
    assert after is not None
    assert rapl_joules_between(before, after) == pytest.approx(3.0 + 0.5)


def test_rapl_counts_one_wrap_of_a_counter(tmp_path: Path) -> None:
    root = _powercap_tree(tmp_path / "powercap", INTEL_RANGE_UJ - 1_000_000, 5_000_000)
    reader = RaplReader(root)
    before = reader.snapshot()
    # Package 0 passed its range and started from 0 again; package 1 did not wrap.
    _set_energy(root, "intel-rapl:0", 2_000_000)
    _set_energy(root, "intel-rapl:1", 6_000_000)
    after = reader.snapshot()
    assert before is not None and after is not None
    # 1 J up to the top, 1 µJ for the step from the top to 0, 2 J from 0; and package 1's 1 J.
    assert rapl_joules_between(before, after) == pytest.approx(1.0 + 1e-6 + 2.0 + 1.0, rel=1e-12)


def test_rapl_wrap_free_interval_follows_the_smallest_range() -> None:
    snapshot = {
        "intel-rapl:0": RaplCounter(0, INTEL_RANGE_UJ),
        "intel-rapl:1": RaplCounter(0, 65_535_999_999),
    }
    # 65.5 kJ at the 1 kW ceiling.
    assert rapl_wrap_free_seconds(snapshot) == pytest.approx(65.536)
    assert rapl_wrap_free_seconds({"intel-rapl:0": RaplCounter(0, INTEL_RANGE_UJ)}) > 260


@pytest.mark.skipif(
    sys.platform == "win32" or os.geteuid() == 0, reason="root reads a file whatever its mode"
)
def test_rapl_energy_readable_by_root_only_is_unknown(tmp_path: Path) -> None:
    root = _powercap_tree(tmp_path / "powercap", 1_000_000, 2_000_000)
    (root / "intel-rapl:1" / "energy_uj").chmod(0o000)
    try:
        assert RaplReader(root).snapshot() is None
    finally:
        (root / "intel-rapl:1" / "energy_uj").chmod(0o644)


def test_rapl_counter_that_cannot_be_read_is_unknown(tmp_path: Path) -> None:
    # Runs as root too, where chmod denies nothing: a read that fails with an OSError.
    root = _powercap_tree(tmp_path / "powercap", 1_000_000, 2_000_000)
    (root / "intel-rapl:1" / "energy_uj").unlink()
    (root / "intel-rapl:1" / "energy_uj").mkdir()
    assert RaplReader(root).snapshot() is None


@pytest.mark.parametrize(
    ("energy", "top"), [("12ab", "100"), ("", "100"), ("101", "100"), ("5", "0"), ("-1", "100")]
)
def test_rapl_counter_that_makes_no_sense_is_unknown(tmp_path: Path, energy: str, top: str) -> None:
    root = _powercap_tree(tmp_path / "powercap", 1_000_000, 2_000_000)
    (root / "intel-rapl:0" / "energy_uj").write_text(energy)
    (root / "intel-rapl:0" / "max_energy_range_uj").write_text(top)
    assert RaplReader(root).snapshot() is None


def test_rapl_zone_without_a_name_is_unknown(tmp_path: Path) -> None:
    root = _powercap_tree(tmp_path / "powercap", 1_000_000, 2_000_000)
    (root / "intel-rapl:1" / "name").unlink()
    assert RaplReader(root).snapshot() is None


def test_rapl_missing_or_empty_tree_is_unknown(tmp_path: Path) -> None:
    assert RaplReader(tmp_path / "no-such-dir").snapshot() is None
    (tmp_path / "empty").mkdir()
    assert RaplReader(tmp_path / "empty").snapshot() is None
    # Only zones that are not packages: nothing to count is not zero.
    _write_zone(tmp_path / "platform" / "intel-rapl:0", "psys", 1, INTEL_RANGE_UJ)
    assert RaplReader(tmp_path / "platform").snapshot() is None


def test_rapl_package_that_appears_or_disappears_is_unknown(tmp_path: Path) -> None:
    root = _powercap_tree(tmp_path / "powercap", 1_000_000, 2_000_000)
    reader = RaplReader(root)
    both = reader.snapshot()
    moved = tmp_path / "offline"
    (root / "intel-rapl:1").rename(moved)
    one = reader.snapshot()
    assert both is not None and one is not None
    assert set(one) == {"intel-rapl:0"}
    assert rapl_joules_between(both, one) is None
    assert rapl_joules_between(one, both) is None


def test_rapl_counter_whose_range_changed_is_unknown() -> None:
    # The driver was reloaded with other units: the two readings do not count the same thing.
    before = {"intel-rapl:0": RaplCounter(5_000_000, INTEL_RANGE_UJ)}
    after = {"intel-rapl:0": RaplCounter(6_000_000, 65_535_999_999)}
    assert rapl_joules_between(before, after) is None


# --------------------------------------------------------------------------------- fake NVML


class FakeNvmlError(Exception):
    pass


@dataclass
class FakeCard:
    uuid: str
    name: str = "NVIDIA H100 80GB HBM3"
    # Millijoule counters, replayed one per read; the last one is repeated.
    energy_mj: list[int] = field(default_factory=lambda: [0])
    energy_supported: bool = True
    reads: int = 0


class FakeNvml:
    """pynvml's calls over recorded cards; counts what the reader does."""

    NVMLError = FakeNvmlError

    def __init__(self, cards: Iterable[FakeCard], *, driver_loaded: bool = True) -> None:
        self.cards = list(cards)
        self.driver_loaded = driver_loaded
        self.inits = 0
        self.shutdowns = 0
        self.calls = 0

    def nvmlInit(self) -> None:
        self.calls += 1
        if not self.driver_loaded:
            raise FakeNvmlError("Driver Not Loaded")
        self.inits += 1

    def nvmlShutdown(self) -> None:
        self.calls += 1
        self.shutdowns += 1

    def nvmlDeviceGetCount(self) -> int:
        self.calls += 1
        return len(self.cards)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> object:
        self.calls += 1
        if not 0 <= index < len(self.cards):
            raise FakeNvmlError("Invalid Argument")
        return self.cards[index]

    def nvmlDeviceGetUUID(self, handle: object) -> str | bytes:
        assert isinstance(handle, FakeCard)
        return handle.uuid

    def nvmlDeviceGetName(self, handle: object) -> str | bytes:
        assert isinstance(handle, FakeCard)
        return handle.name.encode()  # as older pynvml releases return it

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: object) -> int:
        assert isinstance(handle, FakeCard)
        if not handle.energy_supported:
            raise FakeNvmlError("Not Supported")
        value = handle.energy_mj[min(handle.reads, len(handle.energy_mj) - 1)]
        handle.reads += 1
        return value


UUIDS = [f"GPU-{n}{n}{n}{n}aaaa-0000-1111-2222-33334444555{n}" for n in range(4)]


def _cards(*energy: list[int]) -> list[FakeCard]:
    return [FakeCard(UUIDS[i], energy_mj=list(e)) for i, e in enumerate(energy)]


def _reader(nvml: FakeNvml, visible: str | None, order: str | None = None) -> NvmlReader:
    return NvmlReader(nvml, cuda_visible_devices=visible, cuda_device_order=order)


def test_nvml_reads_the_cards_named_by_index(tmp_path: Path) -> None:
    nvml = FakeNvml(_cards([0, 1_000], [0, 999_000], [10_000, 12_500]))
    reader = _reader(nvml, "2,0")
    before = reader.snapshot()
    after = reader.snapshot()
    assert before == {2: 10_000, 0: 0}
    assert after is not None
    assert nvml_joules_between(before, after) == pytest.approx(2.5 + 1.0)
    assert nvml.cards[1].reads == 0
    assert nvml.inits == nvml.shutdowns == 2


def test_nvml_maps_uuids_to_the_physical_cards() -> None:
    nvml = FakeNvml(_cards([1], [2], [3], [4]))
    assert _reader(nvml, f"{UUIDS[3]},{UUIDS[1]}").snapshot() == {3: 4, 1: 2}
    # CUDA takes any unique prefix of a UUID.
    assert _reader(nvml, UUIDS[2][:10]).snapshot() == {2: 3}


@pytest.mark.parametrize(
    "visible",
    [
        "GPU-",  # a prefix of every card
        "GPU-ffffffff-0000-1111-2222-333344445555",  # no such card
        "MIG-0d5d9d6f-5a8a-5b5d-b3f7-1a2b3c4d5e6f",  # a MIG instance: no counter of its own
        "4",  # past the last card
        "0,x",
        "0,0",
    ],
)
def test_nvml_cards_that_cannot_be_told_are_unknown(visible: str) -> None:
    nvml = FakeNvml(_cards([1], [2], [3], [4]))
    assert _reader(nvml, visible).snapshot() is None
    assert nvml.inits == nvml.shutdowns == 1


def test_nvml_unset_means_every_card_and_empty_none() -> None:
    nvml = FakeNvml(_cards([1], [2]))
    assert _reader(nvml, None).snapshot() == {0: 1, 1: 2}
    assert _reader(nvml, "").snapshot() == {}
    assert _reader(nvml, "NoDevFiles").snapshot() == {}


def test_nvml_ordinals_on_mixed_cards_need_pci_bus_order() -> None:
    cards = _cards([1], [2])
    cards[1].name = "NVIDIA A100-SXM4-80GB"
    nvml = FakeNvml(cards)
    # CUDA puts faster cards first by default: ordinal 0 may not be NVML's card 0.
    assert _reader(nvml, "0").snapshot() is None
    assert _reader(nvml, "0", order="PCI_BUS_ID").snapshot() == {0: 1}
    # A UUID names the card whatever the order.
    assert _reader(nvml, UUIDS[1]).snapshot() == {1: 2}


def test_nvml_errors_are_unknown() -> None:
    cards = _cards([1], [2])
    cards[1].energy_supported = False  # a card older than the counter
    nvml = FakeNvml(cards)
    assert _reader(nvml, "0").snapshot() == {0: 1}
    assert _reader(nvml, "0,1").snapshot() is None
    assert nvml.inits == nvml.shutdowns == 2
    no_driver = FakeNvml(_cards([1]), driver_loaded=False)
    assert _reader(no_driver, "0").snapshot() is None
    assert no_driver.shutdowns == 0


def test_nvml_counter_that_went_down_or_cards_that_changed_are_unknown() -> None:
    assert nvml_joules_between({0: 5_000}, {0: 4_000}) is None  # the driver was reloaded
    assert nvml_joules_between({0: 5_000}, {0: 6_000, 1: 10}) is None
    assert nvml_joules_between({0: 5_000}, {0: 6_000}) == pytest.approx(1.0)


def test_without_pynvml_nothing_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # the import then raises ImportError
    assert load_pynvml() is None
    assert NvmlReader(None, cuda_visible_devices="0").snapshot() is None


# --------------------------------------------------------------------------------- the meter


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_meter_apportions_a_shared_card_and_the_nodes_packages(tmp_path: Path) -> None:
    root = _powercap_tree(tmp_path / "powercap", 1_000_000, 2_000_000)
    # The trial holds a quarter of card 1; card 0 belongs to someone else.
    nvml = FakeNvml(_cards([0, 500_000], [1_000_000, 1_040_000]))
    clock = FakeClock()
    meter = EnergyMeter(
        resources={"CPU": 4.0, "GPU": 0.25},
        node_cpus=16.0,
        rapl=RaplReader(root),
        nvml=_reader(nvml, "1"),
        clock=clock,
    )
    meter.start()
    clock.now += 30.0
    _set_energy(root, "intel-rapl:0", 51_000_000)
    _set_energy(root, "intel-rapl:1", 32_000_000)
    use = meter.stop()
    assert use.seconds == pytest.approx(30.0)
    assert use.attribution == APPORTIONED_BY_SHARE
    assert use.gpu_cards == (1,)
    assert use.gpu_card_joules == pytest.approx(40.0)
    assert use.gpu_share == 0.25
    assert use.gpu_joules == pytest.approx(10.0)
    assert use.cpu_package_joules == pytest.approx(80.0)
    assert use.cpu_share == 0.25
    assert use.cpu_joules == pytest.approx(20.0)
    assert nvml.cards[0].reads == 0


def test_meter_gives_whole_cards_all_their_energy() -> None:
    nvml = FakeNvml(_cards([0, 100_000], [0, 300_000], [0, 7_000_000]))
    meter = EnergyMeter(
        resources={"CPU": 1.0, "GPU": 2.0},
        node_cpus=8.0,
        rapl=None,
        nvml=_reader(nvml, f"{UUIDS[1]},{UUIDS[0]}"),
        clock=FakeClock(),
    )
    meter.start()
    use = meter.stop()
    assert use.gpu_cards == (0, 1)
    assert use.gpu_share == 1.0
    assert use.gpu_joules == use.gpu_card_joules == pytest.approx(400.0)
    assert use.cpu_joules is None and use.cpu_package_joules is None


def test_meter_attributes_nothing_to_a_share_of_zero_and_reads_nothing(tmp_path: Path) -> None:
    root = _powercap_tree(tmp_path / "powercap", 1_000_000, 2_000_000)
    nvml = FakeNvml(_cards([0, 100_000]))
    meter = EnergyMeter(
        resources={"CPU": 2.0}, node_cpus=8.0, rapl=RaplReader(root), nvml=_reader(nvml, "0")
    )
    meter.start()
    use = meter.stop()
    assert use.gpu_joules == 0.0 and use.gpu_share == 0.0
    assert use.gpu_card_joules is None and use.gpu_cards == ()
    assert nvml.calls == 0
    assert use.cpu_joules == 0.0  # the counters did not move


def test_meter_refuses_cards_that_are_not_the_trials() -> None:
    # One GPU held, but the process sees all four cards (CUDA_VISIBLE_DEVICES unset).
    nvml = FakeNvml(_cards([0, 1_000], [0, 1_000], [0, 1_000], [0, 1_000]))
    meter = EnergyMeter(resources={"GPU": 1.0}, node_cpus=8.0, rapl=None, nvml=_reader(nvml, None))
    meter.start()
    use = meter.stop()
    assert use.gpu_cards == (0, 1, 2, 3)
    assert use.gpu_joules is None and use.gpu_card_joules is None


def test_meter_nvml_error_leaves_the_cpu_known(tmp_path: Path) -> None:
    root = _powercap_tree(tmp_path / "powercap", 1_000_000, 2_000_000)
    cards = _cards([0, 1_000])
    cards[0].energy_supported = False
    meter = EnergyMeter(
        resources={"CPU": 8.0, "GPU": 1.0},
        node_cpus=8.0,
        rapl=RaplReader(root),
        nvml=_reader(FakeNvml(cards), "0"),
        clock=FakeClock(),
    )
    meter.start()
    _set_energy(root, "intel-rapl:0", 3_000_000)
    use = meter.stop()
    assert use.gpu_joules is None
    assert use.cpu_joules == use.cpu_package_joules == pytest.approx(2.0)


def test_meter_cpu_unknown_when_readings_are_too_far_apart_to_rule_out_a_wrap(
    tmp_path: Path,
) -> None:
    root = _powercap_tree(tmp_path / "powercap", 1_000_000, 2_000_000)
    clock = FakeClock()
    meter = EnergyMeter(
        resources={"CPU": 16.0}, node_cpus=16.0, rapl=RaplReader(root), nvml=None, clock=clock
    )
    meter.start()
    assert meter.sample_within_s == pytest.approx(262.143328851)
    clock.now += 600.0
    _set_energy(root, "intel-rapl:0", 5_000_000)
    use = meter.stop()
    assert use.cpu_joules is None and use.cpu_package_joules is None
    assert use.seconds == pytest.approx(600.0)


def test_meter_samples_in_between_see_every_wrap(tmp_path: Path) -> None:
    root = _powercap_tree(tmp_path / "powercap", 1_000_000, 2_000_000)
    clock = FakeClock()
    meter = EnergyMeter(
        resources={"CPU": 4.0}, node_cpus=16.0, rapl=RaplReader(root), nvml=None, clock=clock
    )
    meter.start()
    # 200 s at a time, each package drawing 500 W: package 0 wraps between samples 1 and 2.
    energy = [1_000_000, 2_000_000]
    for _ in range(3):
        clock.now += 200.0
        energy = [(e + 100_000_000_000) % (INTEL_RANGE_UJ + 1) for e in energy]
        _set_energy(root, "intel-rapl:0", energy[0])
        _set_energy(root, "intel-rapl:1", energy[1])
        meter.sample()
    assert energy[0] < 1_000_000 + 100_000_000_000  # it did wrap
    clock.now += 10.0
    use = meter.stop()
    assert use.cpu_package_joules == pytest.approx(2 * 3 * 100_000.0)
    assert use.cpu_joules == pytest.approx(2 * 3 * 100_000.0 / 4)


def test_meter_cpu_unknown_once_a_reading_fails(tmp_path: Path) -> None:
    root = _powercap_tree(tmp_path / "powercap", 1_000_000, 2_000_000)
    meter = EnergyMeter(
        resources={"CPU": 1.0}, node_cpus=4.0, rapl=RaplReader(root), nvml=None, clock=FakeClock()
    )
    meter.start()
    (root / "intel-rapl:1").rename(tmp_path / "offline")
    meter.sample()
    assert meter.sample_within_s is None
    (tmp_path / "offline").rename(root / "intel-rapl:1")
    use = meter.stop()
    assert use.cpu_joules is None


def test_meter_with_unreadable_counters_says_unknown_not_zero(tmp_path: Path) -> None:
    meter = EnergyMeter(
        resources={"CPU": 1.0},
        node_cpus=4.0,
        rapl=RaplReader(tmp_path / "no-powercap"),
        nvml=None,
    )
    meter.start()
    assert meter.stop().cpu_joules is None


@pytest.mark.parametrize(
    ("resources", "node_cpus", "message"),
    [
        ({"CPU": 1.0}, 0.0, "node_cpus"),
        ({"CPU": 9.0}, 8.0, "more than its node"),
        ({"GPU": 1.5}, 8.0, "whole GPUs"),
        ({"CPU": -1.0}, 8.0, "≥ 0"),
    ],
)
def test_meter_refuses_a_reservation_that_cannot_be(
    resources: dict[str, float], node_cpus: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        EnergyMeter(resources=resources, node_cpus=node_cpus, rapl=None, nvml=None)


def test_meter_is_used_once_in_order() -> None:
    meter = EnergyMeter(resources={"CPU": 1.0}, node_cpus=1.0, rapl=None, nvml=None)
    with pytest.raises(RuntimeError, match="before start"):
        meter.stop()
    meter.start()
    with pytest.raises(RuntimeError, match="started already"):
        meter.start()
    meter.stop()
    with pytest.raises(RuntimeError, match="after stop"):
        meter.sample()


def test_a_trials_tally_sums_what_its_attempts_held_and_poisons_unknown_energy() -> None:
    from raysweep.orchestrator._core._hardware_use import tally_close, tally_open, tally_sum

    measured = {"cpu_joules": 4.0, "gpu_joules": 1.5}
    tally = tally_open(None, {"CPU": 2, "GPU": 0.5}, 100.0)
    tally = tally_close(tally, 110.0, measured)
    assert tally is not None
    assert (tally["cpu_s"], tally["gpu_s"], tally["cpu_joules"]) == (20.0, 5.0, 4.0)
    assert "since" not in tally
    # Promoted onto a whole GPU: the second attempt adds at its own shape.
    tally = tally_close(tally_open(tally, {"CPU": 1, "GPU": 1}, 200.0), 204.0, measured)
    assert tally is not None
    assert (tally["cpu_s"], tally["gpu_s"], tally["gpu_joules"]) == (24.0, 9.0, 3.0)
    # A runner lost sends nothing: the seconds still count, the energy is unknown for good.
    lost = tally_close(tally_open(tally, {"CPU": 1}, 300.0), 301.0, None)
    assert lost is not None and lost["cpu_s"] == 25.0 and lost["cpu_joules"] is None
    later = tally_close(tally_open(lost, {"CPU": 1}, 400.0), 401.0, measured)
    assert later is not None and later["cpu_joules"] is None and later["cpu_s"] == 26.0
    # Closing an attempt that closed already (its result came after an interruption) adds
    # no seconds; no tally at all stays none.
    assert tally_close(tally, 999.0, None) == tally
    assert tally_close(None, 1.0, measured) is None
    total = tally_sum([tally, later, None])
    assert total["cpu_s"] == 50.0 and total["cpu_joules"] == 8.0
    assert total["energy_unknown_trials"] == 1


def test_trial_energy_covers_earlier_attempts_and_is_unknown_when_any_part_is() -> None:
    from raysweep.orchestrator._core._hardware_use import EnergyUse, TrialEnergy

    now = EnergyUse(2.0, 1.0, 0.5, 0.5, 0.5, 2.0, 1.0, (0,))
    both = TrialEnergy.of({"cpu_joules": 3.0, "gpu_joules": 1.0}, now)
    assert (both.cpu_joules, both.gpu_joules, both.joules) == (4.0, 1.5, 5.5)
    assert TrialEnergy.of(None, now).joules == 1.5
    unknown_before = TrialEnergy.of({"cpu_joules": None, "gpu_joules": 1.0}, now)
    assert unknown_before.cpu_joules is None and unknown_before.joules is None
    assert TrialEnergy.of(None, None) == TrialEnergy(None, None)
