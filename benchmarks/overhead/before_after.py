"""Before/after check of a change that should not cost speed: no-op trials on two commits.

    .venv/bin/python -m benchmarks.overhead.before_after --base 82806db

Checks out `--base` into a scratch git worktree with a venv of its own (`pip install -e .`),
then runs the same no-op study (1,000 trials, 2 runners, ASHA 1/3/9, one `suggest_float` and R
reports per trial) under the base's Python and under this checkout's Python, alternating
base/this `--rounds` times so that the machine's drift hits both alike. Each run is its own
process with its own local Ray (2 CPUs). Writes the `before-after` section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._shared import results_md

ROOT = Path(__file__).resolve().parents[2]
SECTION = "before-after"

# One run: a fresh local Ray, the study, the rate. Only the public API, so any commit runs it.
_RUN = """
import json, os, sys, tempfile, time
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
import ray
ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
         object_store_memory=100 * 1024 * 1024)
from raysweep.orchestrator import create_study
from raysweep.samplers import RandomSampler
from raysweep.scheduling import ASHA
reports, trials = int(sys.argv[1]), int(sys.argv[2])
def objective(trial):
    x = trial.suggest_float("x", -1.0, 1.0)
    for step in range(1, reports + 1):
        trial.report(x * x, step)
    return x * x
study = create_study(name="noop", storage=tempfile.mkdtemp(), sampler=RandomSampler(seed=0),
                     scheduler=ASHA(min_resource=1, max_resource=10, reduction_factor=3))
began = time.perf_counter()
study.optimize(objective, n_trials=trials, max_concurrent=2, show_progress=False)
print(json.dumps({"trials_per_s": trials / (time.perf_counter() - began)}))
study.close()
ray.shutdown()
"""


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="the commit to compare against")
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--reports", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--rounds", type=int, default=3, help="base/this alternations per R")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    parser.add_argument("--print-only", action="store_true")
    return parser.parse_args(argv)


def _base_python(base: str, scratch: Path) -> Path:
    tree = scratch / "base"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), base],
        check=True,
        capture_output=True,
    )
    subprocess.run([sys.executable, "-m", "venv", str(tree / ".venv")], check=True)
    python = tree / ".venv" / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "-e", str(tree)], check=True, cwd=tree
    )
    return python


def _rate(python: Path, cwd: Path, reports: int, trials: int) -> float:
    done = subprocess.run(
        [str(python), "-c", _RUN, str(reports), str(trials)],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    rate: float = json.loads(done.stdout.strip().splitlines()[-1])["trials_per_s"]
    return rate


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    date, machine, began = results_md.utc_now(), results_md.machine("ray"), time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="rs-before-after-"))
    rows = []
    try:
        base_python = _base_python(args.base, scratch)
        for reports in args.reports:
            base, this = [], []
            for _ in range(args.rounds):
                base.append(_rate(base_python, scratch / "base", reports, args.trials))
                this.append(_rate(Path(sys.executable), ROOT, reports, args.trials))
                print(f"R={reports}: base {base[-1]:.0f}, this {this[-1]:.0f} trials/s")
            ratio = statistics.mean(this) / statistics.mean(base)
            rows.append(
                [
                    str(reports),
                    " / ".join(f"{r:.0f}" for r in base),
                    " / ".join(f"{r:.0f}" for r in this),
                    f"{statistics.mean(base):.0f}",
                    f"{statistics.mean(this):.0f}",
                    f"{ratio:.2f}×",
                ]
            )
    finally:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(scratch / "base")],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(scratch, ignore_errors=True)
    table = results_md.md_table(
        [
            "reports/trial",
            f"base {args.base}, trials/s",
            "this commit, trials/s",
            "base mean",
            "this mean",
            "this ÷ base",
        ],
        rows,
    )
    body = (
        results_md.header(
            "Before/after: no-op trials on two commits",
            cmd=results_md.command(),
            date=date,
            machine_text=machine,
            total_s=time.monotonic() - began,
        )
        + f"\n{args.trials} no-op trials per run (one `suggest_float`, R reports), 2 runners, "
        "ASHA 1/3/9, RandomSampler(seed=0); each run a fresh process and local Ray; runs "
        "alternate base / this commit. A ratio within the runs' own spread is no change.\n\n"
        + table
    )
    results_md.publish(SECTION, body, out=args.out, print_only=args.print_only)


if __name__ == "__main__":
    main()
