"""The examples a user copies from still run (against the test session's Ray)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_quickstart_runs_and_resumes(ray_session: str, tmp_path: Path) -> None:
    env = dict(os.environ, RAY_ADDRESS=ray_session)
    command = [
        sys.executable,
        str(ROOT / "examples" / "quickstart.py"),
        "--storage",
        str(tmp_path),
        "--n-trials",
        "6",
    ]
    first = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "trials: 6 (" in first.stdout and "best value: 0." in first.stdout
    # Run again with a larger budget: the study continues instead of starting over.
    command[-1] = "8"
    second = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "trials: 8 (" in second.stdout


@pytest.mark.skipif(
    subprocess.run([sys.executable, "-c", "import torch"], capture_output=True).returncode != 0,
    reason="PyTorch is not installed",
)
def test_pytorch_example_runs_on_cpu(ray_session: str, tmp_path: Path) -> None:
    env = dict(os.environ, RAY_ADDRESS=ray_session)
    command = [
        sys.executable,
        str(ROOT / "examples" / "pytorch_digits.py"),
        "--storage",
        str(tmp_path),
        "--n-trials",
        "3",
        "--max-concurrent",
        "2",
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "RESULT raysweep" in result.stdout
