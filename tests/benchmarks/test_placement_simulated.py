"""The placement benchmark's event loop on a tiny cluster: what must hold whatever the figures.

The loop itself raises when a node's runners hold more than it has, when a busy runner is
retired, or when work is left that never started; these runs check the rest from the outside.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.multi_fidelity._problems import hartmann6_mf
from benchmarks.placement import simulated
from benchmarks.placement._loop import Result, Settings, run_policy
from benchmarks.placement._model import FCFS_GPU, FCFS_QUARTER, POLICIES, NodeSpec, Policy

TINY = (
    NodeSpec("cpu-0", 8, 0),
    NodeSpec("a100-0", 4, 1, "A100"),
    NodeSpec("h100-0", 8, 2, "H100"),
)
N_TRIALS = 30
SETTINGS = Settings(n_trials=N_TRIALS, max_runners=13, idle_grace=0.2, reserve_after=0.5)


def _run(policy: Policy, seed: int = 1) -> Result:
    return run_policy(policy, TINY, hartmann6_mf(), seed, SETTINGS)


@pytest.mark.parametrize("key", list(POLICIES))
def test_every_trial_finishes_and_no_node_is_over_committed(key: str) -> None:
    result = _run(POLICIES[key])
    assert sum(result.trial_states.values()) == N_TRIALS
    # Promote mode stops nothing: a trial completes, or stays paused with no promotion left.
    assert set(result.trial_states) <= {"complete", "paused"}
    assert result.completed == result.trial_states.get("complete", 0) >= 1
    assert 0 < result.peak_node_share <= 1 + 1e-9
    for shares in (result.utilisation, result.queued_utilisation):
        assert all(0 <= share <= 1 + 1e-9 for share in shares.values())
    # Every trial runs its first epoch, and no epoch is run twice (resumes use checkpoints).
    assert N_TRIALS <= result.epochs <= N_TRIALS * 27
    assert result.makespan > 0
    if POLICIES[key].planner:
        # Every runner started is retired by the end: nothing is left holding room.
        assert result.retirements == result.starts


@pytest.mark.parametrize("policy", [FCFS_GPU, FCFS_QUARTER])
def test_fcfs_uses_only_its_fixed_shape(policy: Policy) -> None:
    result = _run(policy)
    (fixed,) = policy.resources(0)
    used = {shape for counts in result.shapes_by_rung.values() for shape in counts}
    assert used == {str(fixed)}
    assert result.reuses == result.retirements == 0
    # Every start is a new trial or a promotion: the fixed shape never waits for a runner.
    assert result.starts == N_TRIALS + sum(len(w) for w in result.promotion_waits.values())


def test_the_planner_uses_the_alternatives_and_the_h100_for_rung_9() -> None:
    result = _run(POLICIES["planner"])
    assert set(result.shapes_by_rung.get(9, {})) <= {"{CPU: 4, GPU: 1, accelerator_type: H100}"}
    new = set(result.shapes_by_rung[0])
    assert new <= {"{CPU: 1, GPU: 0.25}", "{CPU: 8}"}
    # A 1-GPU A100 node, 2 H100s and 8 CPUs: more new trials than quarters fit, so the CPU node
    # takes some.
    assert "{CPU: 8}" in new


def test_a_seed_gives_the_same_run() -> None:
    first, again = _run(POLICIES["planner"], seed=3), _run(POLICIES["planner"], seed=3)
    assert first == again


def test_the_quick_run_prints_a_section_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "RESULTS.md"
    simulated.main(["--quick", "--processes", "1", "--out", str(out)])
    text = capsys.readouterr().out
    assert f"## {simulated.TITLE}" in text
    assert "<!-- placement-sim:start -->" in text and "### Goals" in text
    assert not out.exists()
