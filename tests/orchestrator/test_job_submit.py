"""`ray job submit` runs a study on a cluster started with `ray start` (its own head, ports and
temp dir, in its own process session, ended by session id — never `ray stop`)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Head:
    """A `ray start --head` of our own: its ports, temp dir and process session."""

    def __init__(self) -> None:
        self.temp = tempfile.mkdtemp(prefix="rsj-", dir="/tmp")
        port, dashboard = _free_port(), _free_port()
        # The test session's own Ray runs beside this head: every port it would take by default
        # (the dashboard agent's, the metrics exporter's, ...) is chosen here instead.
        options = [
            f"--{option}={_free_port()}"
            for option in (
                "dashboard-agent-listen-port",
                "dashboard-agent-grpc-port",
                "metrics-export-port",
                "runtime-env-agent-port",
            )
        ]
        env = dict(os.environ, RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")
        env.pop("RAY_ADDRESS", None)
        self.log_path = Path(self.temp) / "ray-start.log"
        self._log = self.log_path.open("w")
        self.address = f"http://127.0.0.1:{dashboard}"
        self.gcs = f"127.0.0.1:{port}"
        self.starter = subprocess.Popen(
            [
                RAY,
                "start",
                "--head",
                f"--port={port}",
                f"--dashboard-port={dashboard}",
                "--dashboard-host=127.0.0.1",
                f"--temp-dir={self.temp}",
                "--num-cpus=2",
                "--include-dashboard=true",
                "--object-store-memory=100000000",
                "--block",
                *options,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )

    def wait_up(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.starter.poll() is None:
            try:
                with urllib.request.urlopen(f"{self.address}/api/version", timeout=2):
                    return True
            except OSError:
                time.sleep(1)
        return False

    def end(self) -> None:
        """Kill exactly the processes of the starter's session (never `ray stop`)."""
        listing = subprocess.run(["ps", "-eo", "pid=,sid="], capture_output=True, text=True)
        for line in listing.stdout.splitlines():
            pid, sid = (int(x) for x in line.split())
            if sid == self.starter.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.starter.wait(timeout=30)
        self._log.close()
        shutil.rmtree(self.temp, ignore_errors=True)


@pytest.fixture(scope="module")
def head_node() -> Iterator[_Head]:
    said = ""
    for _ in range(2):  # a busy machine can miss a start-up; a second one with fresh ports
        started = _Head()
        if started.wait_up(120):
            try:
                yield started
            finally:
                started.end()
            return
        said = started.log_path.read_text()[-3000:]
        started.end()
    raise RuntimeError(f"the Ray head did not come up:\n{said}")


def _submit(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`ray job submit`, retried while the head's job agent is still starting (busy machines)."""
    deadline = time.monotonic() + 120
    while True:
        job = subprocess.run(
            [RAY, "job", "submit", "--working-dir", str(ROOT / "examples"), "--", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        said = job.stderr + job.stdout
        starting = "No available agent" in said or "Failed to connect" in said
        if job.returncode == 0 or not starting or time.monotonic() > deadline:
            return job
        time.sleep(2)


@pytest.mark.slow
@pytest.mark.ray
def test_quickstart_under_ray_job_submit_runs_and_resumes(head_node: _Head, tmp_path: Path) -> None:
    env = dict(os.environ, RAY_ADDRESS=head_node.address, RAY_AUTH_MODE="disabled")
    for n_trials, expected in (("4", "trials: 4 ("), ("6", "trials: 6 (")):
        job = _submit(
            env, sys.executable, "quickstart.py", "--storage", str(tmp_path), "--n-trials", n_trials
        )
        assert job.returncode == 0, job.stdout[-3000:] + job.stderr[-3000:]
        assert expected in job.stdout


@pytest.mark.slow
@pytest.mark.ray
def test_a_detached_study_outlives_its_ray_job(head_node: _Head, tmp_path: Path) -> None:
    env = dict(os.environ, RAY_ADDRESS=head_node.address, RAY_AUTH_MODE="disabled")
    job = _submit(
        env,
        sys.executable,
        "quickstart.py",
        "--storage",
        str(tmp_path),
        "--n-trials",
        "6",
        "--detach",
    )
    assert job.returncode == 0, job.stdout[-3000:] + job.stderr[-3000:]
    assert "study 'digits' runs detached" in job.stdout
    # The job has ended; the study goes on. Follow it from another process, by name.
    cli_env = dict(os.environ, RAY_AUTH_MODE="disabled")
    cli_env.pop("RAY_ADDRESS", None)
    raysweep = str(Path(sys.executable).with_name("raysweep"))
    attached = subprocess.run(
        [raysweep, "attach", "digits", "--address", head_node.gcs],
        capture_output=True,
        text=True,
        env=cli_env,
        timeout=300,
    )
    assert attached.returncode == 0, attached.stdout + attached.stderr
    assert "study 'digits': finished" in attached.stdout
    listed = subprocess.run(
        [raysweep, "trials", str(tmp_path / "digits")], capture_output=True, text=True, timeout=60
    )
    assert "6 trials" in listed.stdout, listed.stdout + listed.stderr
    removed = subprocess.run(
        [raysweep, "stop", "digits", "--address", head_node.gcs],
        capture_output=True,
        text=True,
        env=cli_env,
        timeout=120,
    )
    assert "had already ended (finished); removed it" in removed.stdout, removed.stderr
