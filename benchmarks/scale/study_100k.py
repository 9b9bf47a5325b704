"""Scale: build, reopen and query a 100,000-trial study, beside Optuna's storages.

    .venv/bin/python -m benchmarks.scale.study_100k                       # the full run
    .venv/bin/python -m benchmarks.scale.study_100k --base 14e4fde       # ... and an older commit
    .venv/bin/python -m benchmarks.scale.study_100k --trials 2000 --repeats 2 --print-only

Ours: the workload of `_workload.py` (RandomSampler, 3 parameters, reports at steps 1/3/9 to
ASHA 1/3/9 in stop mode, 4 simulated runners) through the TrialScheduler core without Ray, so
that what is timed is the study's bookkeeping and its log. Measured: the build (wall time, the
time inside the log's commits and snapshots, the longest call a runner waited on); the reopen
(what `TrialSchedulerCore.open` does: read the log, replay the state, rebuild the recorder and
pruner), median of `--repeats` fresh processes; memory per trial of the open state (RSS and
tracemalloc); and `progress()`, `records()` and the best trial on the open study.

`--base COMMIT` runs the same tasks on that commit (a scratch worktree put first on PYTHONPATH;
this checkout's venv): its build at `--base-trials` (the work per trial grew with the study
there, so 100,000 trials would take hours), its reopen of this run's study rewritten as one
snapshot (the layout it wrote).

Peers: Optuna (RandomSampler, the same parameters and curve, NopPruner) with its in-memory
storage (build, memory, queries) and with JournalFileStorage (build, reopen, queries). Writes
the `scale` section of `benchmarks/RESULTS.md`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks._shared import results_md
from benchmarks.scale import _report

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("orchestrator", "scheduling", "samplers", "k8s")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--trials", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5, help="reopens, each a fresh process")
    parser.add_argument("--base", help="also run an older commit's raysweep")
    parser.add_argument("--base-trials", type=int, default=20_000, help="trials of its build")
    parser.add_argument("--skip-optuna", action="store_true")
    parser.add_argument(
        "--journal-trials",
        type=int,
        help="build Optuna's JournalFileStorage peer at this many trials only (its build "
        "grows faster than linearly: past 40 minutes at 100,000), beside a raysweep study of "
        "the same size so that the reopen is still compared side by side; the section says so",
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=Path("/dev/shm") if Path("/dev/shm").is_dir() else None,
        help="where the studies are written (default: /dev/shm, so that fsync is not timed; "
        "the section gives this disk's fsync time beside it)",
    )
    parser.add_argument("--out", type=Path, default=results_md.RESULTS)
    parser.add_argument("--print-only", action="store_true")
    args = parser.parse_args(argv)
    if args.trials < 100 or args.repeats < 1 or args.base_trials < 100:
        parser.error("--trials and --base-trials must be at least 100, --repeats at least 1")
    if args.journal_trials is not None and not 100 <= args.journal_trials <= args.trials:
        parser.error("--journal-trials must be at least 100 and at most --trials")
    return args


@contextmanager
def _base_tree(commit: str, scratch: Path) -> Iterator[Path]:
    """A worktree of `commit` and a link tree that makes its folders `raysweep.*`."""
    tree = scratch / "base"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), commit],
        check=True,
        capture_output=True,
    )
    try:
        link = scratch / "base-link" / "raysweep"
        link.mkdir(parents=True)
        for folder in FOLDERS:
            if (tree / folder).is_dir():
                (link / folder).symlink_to(tree / folder)
        yield link.parent
    finally:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
            check=False,
            capture_output=True,
        )


def _child(*arguments: str, path: Path | None = None) -> dict[str, Any]:
    """Run one task of `_child` in a fresh process (on the code at `path`, if given)."""
    env = dict(os.environ)
    if path is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(path), env.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        )
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.scale._child", *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"_child {' '.join(arguments)} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"  {arguments[0]}: {_brief(result)}", file=sys.stderr, flush=True)
    return result


def _brief(result: dict[str, Any]) -> str:
    keys = ("wall_s", "open_s", "records_s", "best_s", "rss_bytes", "traced_bytes")
    return ", ".join(f"{k}={result[k]:.4g}" for k in keys if isinstance(result.get(k), float | int))


def _raysweep(
    label: str, study: Path, code: Path | None, *, build: int | None, repeats: int
) -> _report.System:
    """Build a study of `build` trials (None: it is there already), then reopen it `repeats`
    times and measure the memory of its open state (not when `repeats` is 0)."""
    print(f"{label}:", file=sys.stderr, flush=True)
    ours = code is None
    # Ours also leaves a copy of the study as a writer killed before its close leaves it.
    killed = study.with_name(study.name + "-killed")
    shutil.rmtree(killed, ignore_errors=True)
    built = None
    if build:
        copy = (str(killed),) if ours else ()
        built = _child("build", str(study), str(build), *copy, path=code)
    try:
        reopens = [_child("reopen", str(study), "1", path=code) for _ in range(repeats)]
        memory = _child("memory", str(study), path=code) if repeats else None
        crashes = [_replay_everything(study, code) for _ in range(repeats if ours else 0)]
        later = [_crash_after_reopen(study, code) for _ in range(repeats if ours else 0)]
        never_closed = [
            _killed_reopen(killed, code) for _ in range(repeats if ours and build else 0)
        ]
    finally:
        shutil.rmtree(killed, ignore_errors=True)
    return _report.System(label, built, reopens, memory, crashes, later, never_closed)


def _killed_reopen(killed: Path, code: Path | None) -> dict[str, Any]:
    """Reopen a copy of `killed`, a study whose writer was killed before it ever closed: from
    the states saved while it ran, then the events after the newest of them."""
    return _reopen_a_copy(
        killed, "-reopened", code, True, "did not reopen from the states saved while it ran"
    )


def _crash_after_reopen(study: Path, code: Path | None) -> dict[str, Any]:
    """Reopen a copy of `study` from its saved state, run `CRASH_AFTER_TRIALS` more, kill the
    writer, and time the reopen that follows: the saved state plus the events since."""

    def extend_and_kill(copy: Path) -> None:
        _child("extend-and-kill", str(copy), str(_report.CRASH_AFTER_TRIALS), path=code)

    return _reopen_a_copy(
        study, "-crashed-later", code, True, "did not reopen from its saved state", extend_and_kill
    )


def _replay_everything(study: Path, code: Path | None) -> dict[str, Any]:
    """Reopen a copy of `study` without any saved state, so that every event is replayed (a
    reopen saves a state again when it closes, hence a fresh copy each time)."""

    def delete_states(copy: Path) -> None:
        for saved in (copy / "snapshots").glob("state-*.arrow"):
            saved.unlink()

    return _reopen_a_copy(
        study,
        "-crashed",
        code,
        False,
        "reopened from a saved state that was deleted",
        delete_states,
    )


def _reopen_a_copy(
    study: Path,
    suffix: str,
    code: Path | None,
    from_saved_state: bool,
    otherwise: str,
    prepare: Callable[[Path], None] | None = None,
) -> dict[str, Any]:
    """Time the reopen of a fresh copy of `study` (after `prepare(copy)`), which must open
    from a saved state or not as `from_saved_state` says (RuntimeError "<copy> `otherwise`");
    the copy goes afterwards, as a reopen changes it."""
    copy = study.with_name(study.name + suffix)
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(study, copy)
    try:
        if prepare is not None:
            prepare(copy)
        result = _child("reopen", str(copy), "0", path=code)
        if bool(result.get("from_saved_state")) != from_saved_state:
            raise RuntimeError(f"{copy} {otherwise}")
        return result
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def _optuna(work: Path, trials: int, journal_trials: int, repeats: int) -> list[_report.System]:
    print("Optuna:", file=sys.stderr, flush=True)
    in_memory = _child("optuna-build", "memory", "-", str(trials))
    traced = _child("optuna-memory", str(trials))
    journal_path = work / "optuna.journal"
    journal = _child("optuna-build", "journal", str(journal_path), str(journal_trials))
    # The queries once: they read the same storage each time.
    reopens = [
        _child("optuna-reopen", str(journal_path), "1" if i == 0 else "0") for i in range(repeats)
    ]
    return [
        _report.System("Optuna in-memory", in_memory, [], {**in_memory, **traced}),
        _report.System("Optuna JournalFileStorage", journal, reopens, reopens[0]),
    ]


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    date, machine, began = results_md.utc_now(), results_md.machine("optuna"), time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="rs-scale-", dir=args.work))
    fsync = {"study disk": _report.fsync_ms(scratch), "repository disk": _report.fsync_ms(ROOT)}
    systems: list[_report.System] = []
    base_systems: list[_report.System] = []
    try:
        study = scratch / "study"
        systems.append(
            _raysweep("raysweep (this)", study, None, build=args.trials, repeats=args.repeats)
        )
        if not args.skip_optuna:
            journal_trials = args.journal_trials or args.trials
            systems += _optuna(scratch, args.trials, journal_trials, args.repeats)
            if journal_trials < args.trials:
                systems.append(
                    _raysweep(
                        _report.same_size_label(journal_trials),
                        scratch / "study-journal-size",
                        None,
                        build=journal_trials,
                        repeats=args.repeats,
                    )
                )
        if args.base:
            label = f"raysweep {args.base}"
            with _base_tree(args.base, scratch) as code:
                base_study = scratch / "base-study"
                base_systems.append(
                    _raysweep(label, base_study, code, build=args.base_trials, repeats=0)
                )
                # Its reopen of this run's study, rewritten in the layout it wrote itself.
                shutil.copytree(study, scratch / "base-copy")
                _child("single-snapshot", str(scratch / "base-copy"))
                base_systems.append(
                    _raysweep(label, scratch / "base-copy", code, build=None, repeats=args.repeats)
                )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    body = results_md.header(
        f"Scale: a {args.trials:,}-trial study",
        cmd=results_md.command(),
        date=date,
        machine_text=machine,
        total_s=time.monotonic() - began,
    )
    body += _report.section(args, systems, base_systems, fsync)
    results_md.publish(_report.SECTION, body, out=args.out, print_only=args.print_only)


if __name__ == "__main__":
    main()
