"""The placement planner: rules on small clusters, and properties on random ones."""

from __future__ import annotations

from collections import defaultdict

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from raysweep.scheduling._placement import (
    SLICE_NAME_LABEL,
    SLICE_POD_TYPE_LABEL,
    SLICE_WORKER_LABEL,
    ClusterNode,
    PlacementSettings,
    Plan,
    Retire,
    Reuse,
    RunnerState,
    RunnerView,
    Shape,
    Start,
    Wait,
    Work,
    WorkKind,
    complete_slices,
    plan_placement,
)

CPU1 = Shape.of({"CPU": 1})
GPU1 = Shape.of({"CPU": 1, "GPU": 1})
QUARTER = Shape.of({"CPU": 0.5, "GPU": 0.25})
SLICE = Shape.of({"TPU": 4, "CPU": 1}, hosts=2, pod_type="v5p-16")


def node(
    name: str, free: dict[str, float], total: dict[str, float] | None = None, **kw
) -> ClusterNode:
    return ClusterNode(name, total or dict(free), dict(free), **kw)


def new(key: str, *shapes: Shape, since: float = 0.0) -> Work:
    return Work(key, WorkKind.NEW, shapes, 0, since)


def plan(work, nodes, runners=(), *, now=100.0, max_runners=8, grace=10.0, reserve=30.0) -> Plan:
    return plan_placement(
        work,
        nodes,
        runners,
        now=now,
        settings=PlacementSettings(max_runners, idle_grace_s=grace, reserve_after_s=reserve),
    )


def by_work(result: Plan) -> dict[str, object]:
    return {d.work: d for d in result.decisions if not isinstance(d, Retire)}


def test_a_trial_takes_its_first_shape_that_can_start_now() -> None:
    either = (GPU1, Shape.of({"CPU": 2}))
    nodes = [node("g", {"CPU": 4, "GPU": 1}), node("c", {"CPU": 8})]
    decided = by_work(plan([new("t0", *either), new("t1", *either)], nodes))
    assert decided["t0"] == Start(GPU1, ("g",), "t0", decided["t0"].reason)
    # The GPU is taken: the next one runs on CPUs.
    assert decided["t1"].shape == either[1]


def test_cpu_shapes_keep_off_nodes_whose_gpus_are_free() -> None:
    cpu2 = Shape.of({"CPU": 2})
    nodes = [node("g", {"CPU": 4, "GPU": 2}), node("c", {"CPU": 8})]
    decided = by_work(plan([new("t0", GPU1), new("t1", cpu2), new("t2", cpu2)], nodes))
    assert decided["t0"].nodes == ("g",)
    # The GPU node's CPUs are left for the GPU it still has free, though it is the tighter fit.
    assert [decided[k].nodes for k in ("t1", "t2")] == [("c",), ("c",)]


def test_an_idle_runner_of_the_shape_is_reused_before_a_new_one_starts() -> None:
    runners = [RunnerView("r-gpu", GPU1, ("g",), RunnerState.IDLE, since=99.0)]
    nodes = [node("g", {"CPU": 3, "GPU": 1}, {"CPU": 4, "GPU": 2})]
    decided = by_work(plan([new("t0", GPU1), new("t1", GPU1)], nodes, runners))
    assert isinstance(decided["t0"], Reuse) and decided["t0"].runner == "r-gpu"
    assert isinstance(decided["t1"], Start)


def test_shares_of_a_gpu_fill_a_card_before_another_is_opened() -> None:
    nodes = [
        node("whole", {"CPU": 8, "GPU": 2}),
        node("shared", {"CPU": 8, "GPU": 1.5}, {"CPU": 8, "GPU": 2}, gpu_cards=(0.5, 1.0)),
    ]
    decided = by_work(plan([new(f"t{i}", QUARTER) for i in range(3)], nodes))
    # Two quarters close the half-used card; the third opens a card on that node rather than
    # touching the node whose cards are all whole.
    assert [decided[f"t{i}"].nodes for i in range(3)] == [("shared",)] * 3


def test_whole_gpus_need_whole_free_cards() -> None:
    nodes = [node("n", {"CPU": 8, "GPU": 1.5}, {"CPU": 8, "GPU": 2}, gpu_cards=(0.75, 0.75))]
    result = plan([new("t0", GPU1)], nodes)
    wait = by_work(result)["t0"]
    assert isinstance(wait, Wait)
    assert "no free GPU" in wait.reason
    assert result.unmet == (GPU1,)


def test_re_runs_and_promotions_go_first_higher_rungs_first() -> None:
    nodes = [node("n", {"CPU": 2})]
    work = [
        new("new", CPU1, since=0.0),
        Work("low", WorkKind.PROMOTION, (CPU1,), rung=3, waiting_since=50.0),
        Work("rerun", WorkKind.RERUN, (CPU1,), rung=0, waiting_since=60.0),
        Work("high", WorkKind.PROMOTION, (CPU1,), rung=9, waiting_since=90.0),
    ]
    decided = by_work(plan(work, nodes))
    assert {k for k, d in decided.items() if isinstance(d, Start)} == {"high", "low"}
    assert "2 trials ahead" not in decided["new"].reason
    assert decided["new"].reason.endswith("1 trial ahead")


def tpu_host(slice_name: str, worker: int, pod_type: str, tpu: float = 4) -> ClusterNode:
    labels = {
        SLICE_NAME_LABEL: slice_name,
        SLICE_WORKER_LABEL: str(worker),
        SLICE_POD_TYPE_LABEL: pod_type,
    }
    free, total = {"CPU": 2, "TPU": tpu}, {"CPU": 2, "TPU": 4}
    return node(f"{slice_name}-{worker}", free, total, labels=labels)


def test_a_gang_takes_every_host_of_one_slice_or_nothing() -> None:
    def host(slice_name: str, worker: int, tpu: float) -> ClusterNode:
        return tpu_host(slice_name, worker, "v5p-16", tpu)

    # Slice a has a busy host; slice b is free, its hosts listed out of order.
    nodes = [host("a", 0, 4), host("a", 1, 0), host("b", 1, 4), host("b", 0, 4)]
    decided = by_work(plan([new("g0", SLICE), new("g1", SLICE)], nodes))
    assert decided["g0"].nodes == ("b-0", "b-1")
    assert isinstance(decided["g1"], Wait)
    assert decided["g1"].reason.startswith("every v5p-16 slice is taken")
    assert by_work(plan([new("g", SLICE)], nodes[:2]))["g"].reason.startswith(
        "every v5p-16 slice is taken"
    )
    assert by_work(plan([new("g", SLICE)], [node("cpu", {"CPU": 8})]))["g"].reason.startswith(
        "no v5p-16 slice"
    )


def test_a_one_host_slice_goes_only_onto_a_host_of_its_pod_type() -> None:
    # A plain node with four TPU chips, and a host of a v4-8 slice: a v4-8 slice shape is
    # placed on the slice, named in the decision; a plain {"TPU": 4} shape may go on either.
    v4_8 = Shape.of({"TPU": 4, "CPU": 1}, hosts=1, pod_type="v4-8")
    plain = node("plain", {"CPU": 2, "TPU": 4})
    decided = by_work(plan([new("s", v4_8)], [plain, tpu_host("x", 0, "v4-8")]))
    assert isinstance(decided["s"], Start)
    assert decided["s"].nodes == ("x-0",) and decided["s"].slice_name == "x"
    # With only the plain node, it waits and says why.
    waiting = by_work(plan([new("s", v4_8)], [plain]))
    assert isinstance(waiting["s"], Wait)
    assert "no v4-8 slice in the cluster" in waiting["s"].reason
    assert str(v4_8) == "v4-8 slice (1 host of {CPU: 1, TPU: 4})"


def test_a_slice_whose_hosts_are_too_small_is_named_as_such_not_as_taken() -> None:
    small = [
        ClusterNode(n.id, {"CPU": 2, "TPU": 2}, {"CPU": 2, "TPU": 2}, n.labels)
        for n in (tpu_host("a", 0, "v5p-16"), tpu_host("a", 1, "v5p-16"))
    ]
    waiting = by_work(plan([new("g", SLICE)], small))["g"]
    assert isinstance(waiting, Wait)
    assert waiting.reason.startswith("no v5p-16 slice has hosts that can hold {CPU: 1, TPU: 4}")


def test_only_complete_slices_of_the_pod_type_count() -> None:
    nodes = [
        tpu_host("a", 0, "v5p-16"),
        tpu_host("a", 1, "v5p-16"),
        tpu_host("b", 0, "v5p-16"),  # missing its host 1
        tpu_host("c", 0, "v5p-16"),
        tpu_host("c", 0, "v5p-16"),  # two hosts claim worker 0
        tpu_host("d", 0, "v5p-32"),
        tpu_host("d", 1, "v5p-32"),
    ]
    nodes[4] = ClusterNode("c-0b", nodes[4].total, nodes[4].free, nodes[4].labels)
    assert complete_slices(nodes, SLICE) == {"a": ("a-0", "a-1")}
    decided = by_work(plan([new("g", SLICE)], nodes))
    assert isinstance(decided["g"], Start) and decided["g"].slice_name == "a"
    assert decided["g"].reason.endswith("on slice a")


def test_accelerator_types_are_matched_and_named_in_the_reason() -> None:
    h100 = Shape.of({"CPU": 1, "GPU": 1}, "H100")
    nodes = [
        node("a100", {"CPU": 8, "GPU": 2}, accelerator_type="A100"),
        node("h100", {"CPU": 8, "GPU": 1}, accelerator_type="H100"),
    ]
    decided = by_work(plan([new(f"t{i}", h100) for i in range(4)], nodes))
    assert decided["t0"].nodes == ("h100",)
    assert [decided[f"t{i}"].reason for i in (1, 2, 3)] == [
        "no free GPU of type H100 for {CPU: 1, GPU: 1, accelerator_type: H100}",
        "no free GPU of type H100 for {CPU: 1, GPU: 1, accelerator_type: H100}; 1 trial ahead",
        "no free GPU of type H100 for {CPU: 1, GPU: 1, accelerator_type: H100}; 2 trials ahead",
    ]


def test_a_large_shape_that_waited_too_long_gets_a_node_kept_for_it() -> None:
    big = Shape.of({"CPU": 4})
    nodes = [node("n", {"CPU": 1}, {"CPU": 4})]
    runners = [RunnerView(f"r{i}", CPU1, ("n",), RunnerState.BUSY, since=0.0) for i in range(2)] + [
        RunnerView("idle", CPU1, ("n",), RunnerState.IDLE, since=99.0)
    ]
    work = [Work("big", WorkKind.RERUN, (big,), waiting_since=0.0), new("small", CPU1)]
    # Before its time is up, small ones go on taking what frees up.
    early = plan(work, nodes, runners, now=10.0)
    assert isinstance(by_work(early)["small"], Reuse)
    later = plan(work, nodes, runners, now=40.0)
    decided = by_work(later)
    assert decided["big"].reserved == ("n",)
    assert "node n kept for it" in decided["big"].reason
    assert isinstance(decided["small"], Wait)
    assert "kept for a trial that waited longer" in decided["small"].reason
    # The idle runner there goes at once, so the node drains.
    assert Retire("idle", later.of_kind(Retire)[0].reason) in later.decisions


def test_idle_gpu_share_runners_are_retired_to_free_a_whole_card_for_a_promotion() -> None:
    # Found by the live placement benchmark: with the cards' shares unknown (as Ray reports
    # them) and none free, the room of retired half-GPU runners had no card to go back to, so
    # a whole-GPU promotion waited for the idle grace instead of taking their place at once.
    half = Shape.of({"GPU": 0.5, "CPU": 0.5})
    nodes = [node("g", {"CPU": 0, "GPU": 0}, {"CPU": 2, "GPU": 2})]
    runners = [RunnerView(f"h{i}", half, ("g",), RunnerState.IDLE, since=99.0) for i in range(4)]
    promotion = Work("trial 7 (promoted)", WorkKind.PROMOTION, (GPU1,), 1, 99.0)
    result = plan([promotion], nodes, runners, max_runners=4)
    assert len(result.of_kind(Retire)) == 2
    assert by_work(result)["trial 7 (promoted)"] == Start(
        GPU1, ("g",), "trial 7 (promoted)", by_work(result)["trial 7 (promoted)"].reason
    )


def test_a_node_kept_for_a_new_trial_does_not_hold_up_a_re_run() -> None:
    # Found by the property test below: the new trial's reservation kept the re-run off the
    # idle runner it could take, and the new trial then took the re-run's room.
    big = Shape.of({"CPU": 2})
    nodes = [node("n", {"CPU": 0}, {"CPU": 2})]
    runners = [
        RunnerView("busy", CPU1, ("n",), RunnerState.BUSY, since=0.0),
        RunnerView("idle", CPU1, ("n",), RunnerState.IDLE, since=0.0),
    ]
    work = [Work("rerun", WorkKind.RERUN, (CPU1,), waiting_since=0.0), new("big", big)]
    decided = by_work(plan(work, nodes, runners, now=100.0))
    assert decided["rerun"] == Reuse("idle", "rerun", decided["rerun"].reason)
    assert isinstance(decided["big"], Wait) and decided["big"].reserved == ("n",)


def test_idle_runners_retire_after_the_grace_and_at_once_when_their_room_is_needed() -> None:
    nodes = [node("n", {"CPU": 0, "GPU": 0}, {"CPU": 2, "GPU": 1})]
    idle_cpu = RunnerView("cpu", Shape.of({"CPU": 1}), ("n",), RunnerState.IDLE, since=95.0)
    idle_gpu = RunnerView("gpu", GPU1, ("n",), RunnerState.IDLE, since=80.0)
    quiet = plan([], nodes, [idle_cpu, idle_gpu])
    assert [d.runner for d in quiet.of_kind(Retire)] == ["gpu"]  # idle 20 s; the other 5 s
    # A GPU trial reuses the GPU runner; a 2-CPU trial needs the CPU runner's room.
    result = plan(
        [new("g", GPU1), new("c", Shape.of({"CPU": 1}), Shape.of({"CPU": 2}))],
        nodes,
        [idle_cpu, idle_gpu],
    )
    decided = by_work(result)
    assert isinstance(decided["g"], Reuse) and decided["g"].runner == "gpu"
    assert isinstance(decided["c"], Reuse) and decided["c"].runner == "cpu"
    wide = plan([new("w", Shape.of({"CPU": 2}))], [node("n", {"CPU": 1}, {"CPU": 2})], [idle_cpu])
    assert [d.runner for d in wide.of_kind(Retire)] == ["cpu"]
    assert by_work(wide)["w"].nodes == ("n",)


def test_max_runners_is_kept_and_a_spare_runner_makes_way() -> None:
    nodes = [node("n", {"CPU": 6, "GPU": 1})]
    busy = [RunnerView(f"b{i}", CPU1, ("n",), RunnerState.BUSY) for i in range(2)]
    full = plan([new("t", CPU1)], nodes, busy, max_runners=2)
    assert by_work(full)["t"].reason == "all 2 runners (max_concurrent) are taken"
    assert full.unmet == (CPU1,)  # waiting for a runner; an autoscaler sees demand
    spare = [*busy[:1], RunnerView("spare", CPU1, ("n",), RunnerState.IDLE, since=99.0)]
    gpu = plan([new("t", GPU1)], nodes, spare, max_runners=2)
    assert [d.runner for d in gpu.of_kind(Retire)] == ["spare"]
    assert isinstance(by_work(gpu)["t"], Start)


def test_a_starting_runner_is_counted_for_the_trial_it_will_take() -> None:
    starting = RunnerView("s", GPU1, ("n",), RunnerState.STARTING, since=99.0)
    result = plan([new("t0", GPU1), new("t1", GPU1)], [node("n", {"CPU": 4, "GPU": 0})], [starting])
    decided = by_work(result)
    assert decided["t0"] == Wait("t0", decided["t0"].reason, starting="s")
    assert isinstance(decided["t1"], Wait) and decided["t1"].starting is None
    assert result.unmet == (GPU1,)


def test_bad_shapes_and_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="pod_type"):
        Shape.of({"TPU": 4}, hosts=2)
    with pytest.raises(ValueError, match="at least one shape"):
        Work("t", WorkKind.NEW, ())
    with pytest.raises(ValueError, match="max_runners"):
        PlacementSettings(0)


# ----- properties -----------------------------------------------------------------------------

_SHAPES = [
    CPU1,
    Shape.of({"CPU": 2}),
    Shape.of({"CPU": 8}),
    GPU1,
    QUARTER,
    Shape.of({"CPU": 1, "GPU": 2}),
    Shape.of({"CPU": 1, "GPU": 1}, "H100"),
    SLICE,
]


@st.composite
def clusters(draw: st.DrawFn) -> tuple[list[ClusterNode], list[RunnerView], list[Work]]:
    nodes: list[ClusterNode] = []
    for i in range(draw(st.integers(1, 5))):
        cpus = float(draw(st.sampled_from([2, 4, 8, 16])))
        gpus = draw(st.integers(0, 2))
        cards = tuple(draw(st.sampled_from([0.0, 0.25, 0.5, 1.0])) for _ in range(gpus))
        total = {"CPU": cpus, "GPU": float(gpus)}
        free = {"CPU": draw(st.integers(0, int(cpus))) * 1.0, "GPU": sum(cards)}
        accel = draw(st.sampled_from([None, "H100", "A100"])) if gpus else None
        nodes.append(ClusterNode(f"n{i}", total, free, {}, accel, cards))
    for s in range(draw(st.integers(0, 2))):
        for worker in range(2):
            tpu = float(draw(st.sampled_from([0, 4])))
            labels = {
                SLICE_NAME_LABEL: f"s{s}",
                SLICE_WORKER_LABEL: str(worker),
                SLICE_POD_TYPE_LABEL: "v5p-16",
            }
            nodes.append(
                ClusterNode(
                    f"s{s}-{worker}", {"CPU": 4.0, "TPU": 4.0}, {"CPU": 4.0, "TPU": tpu}, labels
                )
            )
    runners = []
    for r in range(draw(st.integers(0, 6))):
        shape = draw(st.sampled_from(_SHAPES[:5]))
        where = draw(st.sampled_from(nodes)).id
        state = draw(st.sampled_from(list(RunnerState)))
        runners.append(RunnerView(f"r{r}", shape, (where,), state, draw(st.floats(0, 100))))
    work = []
    for w in range(draw(st.integers(0, 10))):
        kind = draw(st.sampled_from(list(WorkKind)))
        shapes = tuple(
            draw(st.lists(st.sampled_from(_SHAPES), min_size=1, max_size=3, unique=True))
        )
        rung = 0 if kind is WorkKind.NEW else draw(st.sampled_from([0, 1, 3, 9]))
        work.append(Work(f"w{w}", kind, shapes, rung, draw(st.floats(0, 100))))
    return nodes, runners, work


@settings(max_examples=300, deadline=None)
@given(clusters(), st.integers(1, 8))
def test_plans_keep_the_rules_on_random_clusters(cluster, max_runners: int) -> None:
    nodes, runners, work = cluster
    result = plan(work, nodes, runners, max_runners=max_runners)
    by_id = {n.id: n for n in nodes}
    runner_by_name = {r.name: r for r in runners}
    retired = {d.runner for d in result.of_kind(Retire)}

    # Every pending trial is placed or told why not, once.
    keyed = [d.work for d in result.decisions if not isinstance(d, Retire)]
    assert sorted(keyed) == sorted(w.key for w in work)
    assert all(d.reason for d in result.decisions)

    # Only idle runners are reused or retired, each at most once, never both.
    reused = [d.runner for d in result.of_kind(Reuse)]
    assert len(set(reused)) == len(reused) and not set(reused) & retired
    assert all(runner_by_name[n].state is RunnerState.IDLE for n in [*reused, *retired])

    # Never more runners than allowed (beyond those that were there already).
    starts = result.of_kind(Start)
    assert len(runners) - len(retired) + len(starts) <= max(
        max_runners, len(runners) - len(retired)
    )

    # No node over-committed: starts fit in what was free plus what retirements give back.
    taken: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for d in starts:
        for n in d.nodes:
            for k, v in d.shape.resources:
                taken[n][k] += v
    for name in retired:
        for n in runner_by_name[name].nodes:
            for k, v in runner_by_name[name].shape.resources:
                taken[n][k] -= v
    for n, amounts in taken.items():
        for k, v in amounts.items():
            assert v <= by_id[n].free.get(k, 0.0) + 1e-6, (n, k, v)

    # Gangs whole: every host of one slice, in worker order; shapes on matching nodes.
    work_by_key = {w.key: w for w in work}
    for d in starts:
        assert d.shape in work_by_key[d.work].shapes
        assert len(d.nodes) == d.shape.hosts == len(set(d.nodes))
        if d.shape.hosts > 1:
            labels = [by_id[n].labels for n in d.nodes]
            assert {lab[SLICE_NAME_LABEL] for lab in labels} == {labels[0][SLICE_NAME_LABEL]}
            assert [lab[SLICE_WORKER_LABEL] for lab in labels] == ["0", "1"]
        if d.shape.accelerator_type is not None:
            assert all(by_id[n].accelerator_type == d.shape.accelerator_type for n in d.nodes)

    # Promotions and re-runs first: no new trial took a shape one of them waits for.
    waiting_first = [
        work_by_key[d.work]
        for d in result.of_kind(Wait)
        if d.starting is None and work_by_key[d.work].kind is not WorkKind.NEW
    ]
    for d in result.decisions:
        if isinstance(d, Start | Reuse) and work_by_key[d.work].kind is WorkKind.NEW:
            shape = d.shape if isinstance(d, Start) else runner_by_name[d.runner].shape
            assert not any(shape in w.shapes for w in waiting_first), (d, waiting_first)
