"""Whether the nodes reach a study's checkpoints: what the user is told, and when nothing is
checked. (The live check runs in every multi-node test: a node that could not read the token
would stop those studies.)"""

from __future__ import annotations

from pathlib import Path

from raysweep.orchestrator._ray._shared_storage import SharedStorageCheck, reach_problem


def test_every_node_that_read_the_token_is_no_problem() -> None:
    assert reach_problem("/data/studies/s/checkpoints", {"a" * 56: True, "b" * 56: True}) is None
    assert reach_problem("/x", {}) is None


def test_nodes_that_cannot_read_or_did_not_answer_are_named_with_the_fix() -> None:
    problem = reach_problem(
        "/data/s/checkpoints", {"a" * 56: True, "b" * 56: False, "c" * 56: None}
    )
    assert problem is not None
    assert "local path /data/s/checkpoints" in problem
    assert "node bbbbbbbbbbbb cannot read files written there" in problem
    assert "node cccccccccccc did not answer within 60 s" in problem
    assert "aaaa" not in problem
    assert "storage='s3://bucket/prefix'" in problem and "shared file system" in problem


def test_many_missing_nodes_are_counted_not_listed() -> None:
    problem = reach_problem("/p", {f"{i:056d}": False for i in range(8)})
    assert problem is not None and "nodes 000000000000, " in problem and "and 3 more" in problem


def test_object_stores_and_the_driver_node_are_not_checked(tmp_path: Path) -> None:
    # Neither needs Ray: nothing is asked of any node.
    SharedStorageCheck("s3://bucket/studies/s/checkpoints?endpoint_override=x", "n0").check(["n1"])
    SharedStorageCheck(None, "n0").check(["n1"])
    root = tmp_path / "checkpoints"
    SharedStorageCheck(str(root), "n0").check(["n0"])
    assert not root.exists()
