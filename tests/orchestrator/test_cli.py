"""The `raysweep` command reads a study's log without Ray and without its lease."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from raysweep.orchestrator._cli import main

SAMPLE = Path(__file__).parent / "data" / "study_v1"


def test_trials_lists_every_trial(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trials", str(SAMPLE)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "study 'core' (maximize, seed 3): 6 trials"
    states = [line.split()[1] for line in out[1:]]
    assert states == ["complete", "pruned", "failed", "complete", "complete", "running"]
    assert "x=0.476244" in out[1] and "0.9" in out[1]


def test_trials_to_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "trials.csv"
    assert main(["trials", str(SAMPLE), "--csv", str(target)]) == 0
    rows = list(csv.DictReader(target.open()))
    assert [r["number"] for r in rows] == [str(n) for n in range(6)]
    assert rows[2]["state"] == "failed" and "ValueError" in rows[2]["error"]
    assert "wrote 6 trials" in capsys.readouterr().out


def test_log_reports_what_replay_read(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["log", str(SAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "from snapshot snap-" in out and "trial_finished: 6" not in out
    assert "trial_created: 6" in out


def test_a_missing_study_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["trials", str(tmp_path / "nope")]) == 2
    assert "no event log at" in capsys.readouterr().err
