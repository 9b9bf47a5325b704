"""TPU slices as a trial's hardware, without Ray: geometry, requests, the capacity check, facts."""

from __future__ import annotations

import pytest

from raysweep.orchestrator import TPUSlice, UnplaceableResourcesError
from raysweep.orchestrator._core._hardware_use import held_resources, held_seconds
from raysweep.orchestrator._core._protocol import Placement
from raysweep.orchestrator._core._resources import ResourceRequest, check_holdable, parse_shapes
from raysweep.orchestrator._ray._resources import check_placeable
from raysweep.scheduling import (
    SLICE_NAME_LABEL,
    SLICE_POD_TYPE_LABEL,
    SLICE_WORKER_LABEL,
    ClusterNode,
    Shape,
)


@pytest.mark.parametrize(
    ("version", "topology", "pod_type", "hosts", "chips_per_host"),
    [
        ("v5p", "2x2x2", "v5p-16", 2, 4),
        ("v5p", "2x2x1", "v5p-8", 1, 4),
        ("v4", "2x2x4", "v4-32", 4, 4),
        ("v5e", "4x4", "v5litepod-16", 4, 4),
        ("v5litepod", "2x4", "v5litepod-8", 1, 8),  # single-host v5e packs 8 chips
        ("v6e", "1x1", "v6e-1", 1, 1),
        ("v6e", "8x8", "v6e-64", 16, 4),
        ("v2", "4x4", "v2-32", 4, 4),
        ("v3", "2x2", "v3-8", 1, 4),
        ("v7x", "2x2x4", "v7x-32", 4, 4),
        ("TPU-V5P", "2x2x4", "v5p-32", 4, 4),  # Ray's accelerator spelling
    ],
)
def test_a_slice_has_the_hosts_and_pod_type_of_its_generation_and_topology(
    version: str, topology: str, pod_type: str, hosts: int, chips_per_host: int
) -> None:
    tpu = TPUSlice(version, topology)
    assert (tpu.pod_type, tpu.hosts, tpu.chips_per_host) == (pod_type, hosts, chips_per_host)
    assert tpu.shape() == Shape.of(
        {"TPU": chips_per_host, "CPU": 1}, hosts=hosts, pod_type=pod_type
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"version": "v9", "topology": "2x2"}, r"TPU generation \(v2, v3, v4, v5e, v5p"),
        ({"version": 5, "topology": "2x2"}, r"TPU generation"),
        ({"version": "v5p", "topology": "2x2"}, r"3 chip counts joined by 'x'.*'2x2x2'"),
        ({"version": "v5e", "topology": "4x4x1"}, r"2 chip counts joined by 'x'.*'4x4'"),
        ({"version": "v4", "topology": "2x0x1"}, r"chip counts"),
        ({"version": "v4", "topology": None}, r"chip counts"),
        ({"version": "v5p", "topology": "1x1x1"}, r"1 chips, less than one host of 4"),
        ({"version": "v5p", "topology": "2x3x1"}, r"6 chips, not whole hosts of 4"),
        ({"version": "v5p", "topology": "2x2x2", "cpus_per_host": -1}, r"number ≥ 0"),
        ({"version": "v5p", "topology": "2x2x2", "cpus_per_host": 1.5}, r"whole number"),
        ({"version": "v5p", "topology": "2x2x2", "cpus_per_host": True}, r"number ≥ 0"),
    ],
)
def test_a_bad_slice_says_what_to_fix(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TPUSlice(**kwargs)


def test_a_slice_is_a_request_alone_or_among_alternatives() -> None:
    tpu = TPUSlice("v5p", "2x2x2", cpus_per_host=2)
    assert parse_shapes(tpu, "resources") == (tpu.shape(),)
    both = parse_shapes([tpu, {"CPU": 8}], "resources")
    assert both == (tpu.shape(), Shape.of({"CPU": 8}))
    assert both[0].amounts() == {"TPU": 4.0, "CPU": 2.0}
    with pytest.raises(ValueError, match="the same alternative twice"):
        parse_shapes([tpu, TPUSlice("v5p", "2x2x2", 2)], "resources")
    request = ResourceRequest.parse(lambda params, rung: tpu if rung else {"CPU": 1})
    assert request.for_trial({}, 3, 0) == (tpu.shape(),)
    assert "v5p-16 slice (2 hosts of {CPU: 2, TPU: 4})" in str(ResourceRequest.parse(tpu))


def _host(name: str, worker: int, pod_type: str = "v5p-16", tpu: float = 4) -> ClusterNode:
    labels = {
        SLICE_NAME_LABEL: name,
        SLICE_WORKER_LABEL: str(worker),
        SLICE_POD_TYPE_LABEL: pod_type,
    }
    total = {"CPU": 2.0, "TPU": tpu}
    return ClusterNode(f"{name}-{worker}", total, total, labels)


def test_a_slice_is_holdable_only_on_a_complete_slice_of_its_pod_type() -> None:
    shape = TPUSlice("v5p", "2x2x2").shape()
    cpu = ClusterNode("cpu", {"CPU": 64.0}, {"CPU": 64.0})
    check_holdable((shape,), [cpu, _host("a", 0), _host("a", 1)], "trial 3")
    # Host 1 missing, another pod type, or hosts with fewer chips: none can hold it.
    for nodes in (
        [cpu, _host("a", 0)],
        [_host("b", 0, "v5p-32"), _host("b", 1, "v5p-32")],
        [_host("c", 0, tpu=2), _host("c", 1, tpu=2)],
    ):
        with pytest.raises(UnplaceableResourcesError, match="trial 3 needs v5p-16 slice") as err:
            check_holdable((shape,), nodes, "trial 3")
        assert "host 0 of" in str(err.value)
    # An alternative a node can hold is enough.
    check_holdable((shape, Shape.of({"CPU": 8})), [cpu], "trial 3")


def test_optimize_refuses_a_slice_no_node_makes_up_naming_what_exists() -> None:
    request = ResourceRequest.parse(TPUSlice("v5p", "2x2x2"))
    check_placeable(request, (_host("a", 0), _host("a", 1)))
    with pytest.raises(UnplaceableResourcesError) as err:
        check_placeable(request, (_host("a", 0), ClusterNode("cpu", {"CPU": 4.0}, {})))
    text = str(err.value)
    assert "v5p-16 slice (2 hosts of {CPU: 1, TPU: 4})" in text
    assert "{CPU: 2, TPU: 4, host 0 of v5p-16 slice a}; {CPU: 4}" in text


def test_where_a_slice_trial_ran_is_recorded_with_its_slice() -> None:
    placement = Placement("r", {"TPU": 4.0, "CPU": 1.0}, ("n0", "n1"), None, "s1")
    assert placement.hosts == 2
    data = placement.to_json()
    assert data["slice_name"] == "s1"
    assert Placement.from_json(data) == placement
    # Logs written before slices have no such key.
    old = {"runner": "r", "resources": {"CPU": 1.0}, "nodes": ["n"]}
    assert Placement.from_json(old).slice_name is None
    assert "slice_name" not in Placement.from_json(old).to_json()


def test_every_host_of_a_slice_counts_in_its_chip_seconds() -> None:
    held = held_resources({"resources": {"TPU": 4, "CPU": 1}, "nodes": ["n0", "n1"]})
    assert held == {"TPU": 8.0, "CPU": 2.0}
    assert held_seconds(held, 10.0)["tpu_chip_s"] == 80.0
    assert held_resources({"resources": {"GPU": 0.5}, "nodes": ["n"]}) == {"GPU": 0.5}
