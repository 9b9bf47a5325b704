"""The examples a user copies from still run (against the test session's Ray)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run_example(address: str, script: str, *args: str) -> str:
    """Run `examples/<script>` with `args` on the test session's Ray; return its stdout."""
    env = dict(os.environ, RAY_ADDRESS=address)
    command = [sys.executable, str(ROOT / "examples" / script), *args]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_quickstart_runs_and_resumes(ray_session: str, tmp_path: Path) -> None:
    storage = ["--storage", str(tmp_path)]
    first = _run_example(ray_session, "quickstart.py", *storage, "--n-trials", "6")
    assert "trials: 6 (" in first and "best value: 0." in first
    # Run again with a larger budget: the study continues instead of starting over.
    second = _run_example(ray_session, "quickstart.py", *storage, "--n-trials", "8")
    assert "trials: 8 (" in second


_NO_TORCH = pytest.mark.skipif(
    subprocess.run([sys.executable, "-c", "import torch"], capture_output=True).returncode != 0,
    reason="PyTorch is not installed",
)


@_NO_TORCH
def test_pytorch_example_runs_on_cpu(ray_session: str, tmp_path: Path) -> None:
    out = _run_example(
        ray_session,
        "pytorch_digits.py",
        "--storage",
        str(tmp_path),
        "--n-trials",
        "3",
        "--max-concurrent",
        "2",
    )
    assert "RESULT raysweep" in out


@_NO_TORCH
def test_pytorch_example_resumes_from_its_safe_checkpoints(
    ray_session: str, tmp_path: Path
) -> None:
    out = _run_example(
        ray_session,
        "pytorch_digits.py",
        "--storage",
        str(tmp_path),
        "--n-trials",
        "6",
        "--max-concurrent",
        "2",
        "--mode",
        "promote",
    )
    result = dict(item.split("=", 1) for item in out.split("RESULT raysweep ", 1)[1].split())
    # Promoted trials loaded their state_dicts (the default format) and went on training.
    assert int(result["resumed"]) > 0
    # Every completed trial trained exactly 27 epochs in all: none started over.
    assert result["continued"] == result["complete"]
    assert result["repeated_epochs"] == "0"
    saved = list(tmp_path.rglob("step-*.*"))
    assert saved and all(p.suffix == ".npz" for p in saved)
