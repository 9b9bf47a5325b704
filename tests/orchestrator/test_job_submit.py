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


@pytest.fixture(scope="module")
def head() -> Iterator[str]:
    temp = tempfile.mkdtemp(prefix="rsj-", dir="/tmp")
    port, dashboard = _free_port(), _free_port()
    # The test session's own Ray runs beside this head: every port it would take by default
    # (the dashboard agent's, the metrics exporter's, ...) is chosen here instead.
    agent_ports = [
        f"--{option}={_free_port()}"
        for option in (
            "dashboard-agent-listen-port",
            "dashboard-agent-grpc-port",
            "metrics-export-port",
            "runtime-env-agent-port",
            "ray-client-server-port",
        )
    ]
    env = dict(os.environ, RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")
    env.pop("RAY_ADDRESS", None)
    starter = subprocess.Popen(
        [
            RAY,
            "start",
            "--head",
            f"--port={port}",
            f"--dashboard-port={dashboard}",
            "--dashboard-host=127.0.0.1",
            f"--temp-dir={temp}",
            "--num-cpus=2",
            "--include-dashboard=true",
            "--object-store-memory=100000000",
            "--block",
            *agent_ports,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    address = f"http://127.0.0.1:{dashboard}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{address}/api/version", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or starter.poll() is not None:
                    raise RuntimeError("the Ray head did not come up") from None
                time.sleep(1)
        yield address
    finally:
        # Everything `ray start` launched lives in the starter's session: end exactly that.
        with_session = subprocess.run(["ps", "-eo", "pid=,sid="], capture_output=True, text=True)
        for line in with_session.stdout.splitlines():
            pid, sid = (int(x) for x in line.split())
            if sid == starter.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        starter.wait(timeout=30)
        shutil.rmtree(temp, ignore_errors=True)


def _submit(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`ray job submit`, retried while the head's job agent is still starting (busy machines)."""
    deadline = time.monotonic() + 90
    while True:
        job = subprocess.run(
            [RAY, "job", "submit", "--working-dir", str(ROOT / "examples"), "--", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        if "No available agent" not in job.stderr + job.stdout or time.monotonic() > deadline:
            return job
        time.sleep(2)


@pytest.mark.slow
def test_quickstart_under_ray_job_submit_runs_and_resumes(head: str, tmp_path: Path) -> None:
    env = dict(os.environ, RAY_ADDRESS=head, RAY_AUTH_MODE="disabled")
    for n_trials, expected in (("4", "trials: 4 ("), ("6", "trials: 6 (")):
        job = _submit(
            env, sys.executable, "quickstart.py", "--storage", str(tmp_path), "--n-trials", n_trials
        )
        assert job.returncode == 0, job.stdout[-3000:] + job.stderr[-3000:]
        assert expected in job.stdout
