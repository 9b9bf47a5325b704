"""Chaos run: a time-compressed study under a stream of injected faults, against a fault-free run.

A local multi-node Ray cluster (``ray.cluster_utils.Cluster``: a head that holds the study's
actors and worker nodes that hold the runners) runs the study of
:mod:`benchmarks.reliability._chaos_study` twice with the same seed: once untouched, and once
while, every few seconds, one fault from a shuffled schedule is injected:

- ``driver_kill``: SIGKILL of the driver process (its actors die with it), then the script is
  started again and resumes the study;
- ``torn_write``: the same, plus half a record batch appended to the newest log segment, as a
  crash in the middle of a write leaves it;
- ``scheduler_kill`` / ``sampler_kill``: SIGKILL of the TrialScheduler / SamplerService actor's
  process (Ray restarts it);
- ``runner_kill``: SIGKILL of one runner process;
- ``node_removed``: a worker node removed without warning (its runners die), and a fresh one
  added;
- ``stalled_writer``: the TrialScheduler's process stopped (SIGSTOP: a hung disk, a VM paused)
  while a second driver starts and waits for its lease to go stale (30 s without a heartbeat),
  then takes the study over; the stalled process is then let go on (SIGCONT), and must write
  nothing more: its driver ends with `StudyLockedError`.

Every kill is by the pid that the study itself published (``_chaos_study``), checked to be a
Ray worker first. After each fault the harness checks that nothing durable was lost (every
trial whose end was in the log before the fault is still there, unchanged) and that the study
makes progress again. At the end the finished trials are compared with the fault-free run's:
same numbers, states, parameters and values (re-run attempts allowed), and no trial number
created twice. The table goes to RESULTS.md.

Then (``--s3-faults``) the same study with its log on S3 — moto's server on loopback, behind
the object-store tests' proxy — under driver kills and ``s3_drop``: the connection of a segment
upload cut halfway through its body, or after the server stored it but before its answer
reached the writer; its finished trials are compared with the fault-free run's first ones.

    .venv/bin/python -m benchmarks.reliability.chaos                 # 20 driver kills + others
    .venv/bin/python -m benchmarks.reliability.chaos --smoke --print-only
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._shared import results_md
from benchmarks.reliability._chaos_study import STEPS

SECTION = "chaos"
FAULTS = (
    "driver_kill",
    "torn_write",
    "scheduler_kill",
    "sampler_kill",
    "runner_kill",
    "node_removed",
    "stalled_writer",
)
# On an object store, where a segment is written whole (no torn tails): the writer's uploads cut.
S3_FAULTS = ("driver_kill", "s3_drop")
# A second driver waits this long for a stalled writer's lease (stale after 30 s) to free.
TAKEOVER_WAIT_S = 90.0
# Half of a record batch: a length prefix that promises more bytes than follow.
TORN_TAIL = b"\xff\xff\xff\xff\x40\x00\x00\x00torn"
PROGRESS_WAIT_S = 120.0


@dataclasses.dataclass
class FaultTally:
    injected: int = 0
    survived: int = 0
    lost: int = 0


class Run:
    """One study run by a driver subprocess against the shared cluster."""

    def __init__(
        self,
        address: str,
        work: Path,
        name: str,
        n_trials: int,
        concurrency: int,
        step_s: float,
        storage: str | None = None,
        location: str | None = None,
    ) -> None:
        self.address = address
        # What the driver is given, and where this harness reads the log (on S3: not through
        # the proxy that cuts the writer's uploads).
        self.storage: str | Path = storage or work / "studies"
        self.directory: str | Path = location or work / "studies" / name
        self.pid_dir = work / f"pids-{name}"
        self.pid_dir.mkdir(parents=True)
        self.name = name
        self.n_trials = n_trials
        self.concurrency = concurrency
        self.step_s = step_s
        self.driver: subprocess.Popen[str] | None = None
        # Drivers whose writer was stalled and taken over: their exit code and last error.
        self.superseded: list[tuple[int | None, str]] = []
        self.driver_starts = 0
        self.unplanned_exits: list[str] = []
        self._finished = False

    def start_driver(self, lease_wait: float = 0.0) -> None:
        # The actors' pids are the new driver's to publish: the old ones are gone.
        (self.pid_dir / "actors.json").unlink(missing_ok=True)
        env = dict(os.environ, RAY_ADDRESS="", PYTHONUNBUFFERED="1")
        self.driver = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.reliability._chaos_study",
                "--address",
                self.address,
                "--storage",
                str(self.storage),
                "--name",
                self.name,
                "--n-trials",
                str(self.n_trials),
                "--max-concurrent",
                str(self.concurrency),
                "--pid-dir",
                str(self.pid_dir),
                "--step-s",
                str(self.step_s),
                "--lease-wait",
                str(lease_wait),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            start_new_session=True,
        )
        self.driver_starts += 1

    def kill_driver(self) -> None:
        assert self.driver is not None
        os.kill(self.driver.pid, signal.SIGKILL)
        self.driver.wait(timeout=30)
        self.driver.stdout.close()  # type: ignore[union-attr]

    def stall_writer(self) -> bool:
        """Stop the writer, let a second driver take the study over, then wake the first."""
        pid = self.actor_pid("scheduler")
        if pid is None or not _is_ray_worker(pid):
            return False
        stalled = self.driver
        assert stalled is not None
        os.kill(pid, signal.SIGSTOP)
        try:
            self.start_driver(lease_wait=TAKEOVER_WAIT_S)
            # The new driver publishes its actors once it holds the study.
            self.actor_pid("scheduler", wait=TAKEOVER_WAIT_S + 30)
        finally:
            os.kill(pid, signal.SIGCONT)
        try:
            stalled.wait(timeout=60)
        except subprocess.TimeoutExpired:
            stalled.kill()
            stalled.wait(timeout=30)
        said = stalled.stdout.read() if stalled.stdout else ""  # type: ignore[union-attr]
        stalled.stdout.close()  # type: ignore[union-attr]
        # Its last error line (Ray's exit logging follows it).
        errors = [line for line in said.splitlines() if "Error" in line and ": " in line]
        self.superseded.append((stalled.returncode, errors[-1][:300] if errors else said[-300:]))
        return True

    def done(self) -> bool:
        """Whether the driver finished the study; a driver that died otherwise is restarted."""
        assert self.driver is not None
        if self._finished:
            return True
        code = self.driver.poll()
        if code is None:
            return False
        output = self.driver.stdout.read() if self.driver.stdout else ""  # type: ignore[union-attr]
        if code == 0 and "finished" in output:
            self._finished = True
            return True
        self.unplanned_exits.append(f"exit {code}: {output.strip()[-400:]}")
        self.start_driver()
        return False

    def finished(self) -> dict[int, dict[str, Any]]:
        """Trials whose end is durable in the log: number -> their `trial_finished` payload."""
        from raysweep.orchestrator._storage._log import read_events

        if isinstance(self.directory, Path) and not (self.directory / "segments").is_dir():
            return {}
        try:
            events = read_events(self.directory)
        except Exception:
            return {}  # read while a snapshot replaced files: read again next time
        return {e.trial: e.payload for e in events if e.kind == "trial_finished"}  # type: ignore[misc]

    def actor_pid(self, role: str, wait: float = 30.0) -> int | None:
        """The live pid of the study's `role` actor, waiting for a (re)started driver to say."""
        deadline = time.monotonic() + wait
        while True:
            try:
                pid = int(json.loads((self.pid_dir / "actors.json").read_text())[role])
                if _is_ray_worker(pid):
                    return pid
            except (OSError, ValueError, KeyError):
                pass
            if time.monotonic() > deadline:
                return None
            time.sleep(0.2)

    def runner_pids(self) -> list[int]:
        pids = [int(p.name.split("-", 1)[1]) for p in self.pid_dir.glob("runner-*")]
        return [pid for pid in pids if _is_ray_worker(pid)]

    def tear_last_segment(self) -> None:
        assert isinstance(self.directory, Path)
        segments = sorted(
            (self.directory / "segments").glob("seg-*.arrows"), key=lambda p: p.stat().st_mtime
        )
        with segments[-1].open("ab") as f:
            f.write(TORN_TAIL)


def _is_ray_worker(pid: int) -> bool:
    try:
        return b"ray::" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _kill_worker(pid: int | None) -> bool:
    if pid is None or not _is_ray_worker(pid):
        return False
    os.kill(pid, signal.SIGKILL)
    return True


def _wait_done(run: Run, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not run.done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"study {run.name} did not finish in {timeout:.0f} s")
        time.sleep(0.5)


def _compare(reference: dict[int, Any], chaos: dict[int, Any]) -> dict[int, list[str]]:
    """What differs between the two runs' finished trials, by trial (empty: the same)."""
    differences: dict[int, list[str]] = {}
    for number in sorted(set(reference) | set(chaos)):
        a, b = reference.get(number), chaos.get(number)
        if a is None or b is None:
            where = "chaos" if a is None else "fault-free"
            differences[number] = [f"trial {number}: only in the {where} run"]
            continue
        found = [
            f"trial {number}: {field} {a[field]} vs {b[field]}"
            for field in ("state", "params", "values")
            if a[field] != b[field]
        ]
        if found:
            differences[number] = found
    return differences


def _replay(directory: str | Path) -> tuple[dict[int, dict[str, Any]], Any]:
    """The study's trials and its resource usage, from one replay of its log.

    Replay refuses a trial number created twice (CorruptLogError), which is the check the
    report's "created twice: 0" stands on.
    """
    from raysweep.orchestrator._core._state import StudyState
    from raysweep.orchestrator._storage._log import read_events

    state = StudyState.replay(read_events(directory))
    trials = {
        r.number: {
            "state": r.state.value,
            "params": r.params,
            "values": list(r.values or []),
            "attempt": r.attempt,
        }
        for r in state.records()
    }
    return trials, state.usage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--driver-kills", type=int, default=20)
    parser.add_argument("--each-other", type=int, default=4, help="injections of each other fault")
    parser.add_argument("--n-trials", type=int, default=1200)
    parser.add_argument("--every", type=float, nargs=2, default=(2.0, 4.0), metavar=("MIN", "MAX"))
    parser.add_argument("--step-s", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--s3-faults",
        type=int,
        default=5,
        help="then a run on S3 (moto on loopback, behind a proxy that cuts uploads): this many "
        "driver kills and as many cut uploads (0: no S3 run)",
    )
    parser.add_argument("--s3-trials", type=int, default=300)
    parser.add_argument("--smoke", action="store_true", help="2 driver kills, 1 of each other")
    parser.add_argument("--print-only", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.driver_kills, args.each_other, args.n_trials = 2, 1, 120
        args.s3_faults, args.s3_trials = 1, 60
    started = time.monotonic()
    os.environ["RAY_AUTH_MODE"] = "disabled"
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    with tempfile.TemporaryDirectory(prefix="raysweep-chaos-") as scratch:
        work = Path(scratch)
        os.environ["RAY_TMPDIR"] = str(work)
        (work / "ray").mkdir()
        body = _chaos(work, args)
    total = time.monotonic() - started
    header = results_md.header(
        "Chaos run: faults injected into a running study",
        cmd=results_md.command(),
        date=results_md.utc_now(),
        machine_text=results_md.machine("ray", "pyarrow"),
        total_s=total,
    )
    results_md.publish(
        SECTION, header + "\n" + body, out=results_md.RESULTS, print_only=args.print_only
    )


def _chaos(work: Path, args: argparse.Namespace) -> str:
    from ray.cluster_utils import Cluster

    memory = 80 * 1024 * 1024
    # The head holds the study's actors (no CPU: runners never land there); runners go to the
    # worker nodes, which the chaos removes and replaces.
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 0, "object_store_memory": memory, "include_dashboard": False},
    )
    workers = [cluster.add_node(num_cpus=2, object_store_memory=memory) for _ in range(2)]
    concurrency = 4
    try:
        cluster.wait_for_nodes()
        reference = Run(
            cluster.address, work, "fault-free", args.n_trials, concurrency, args.step_s
        )
        t0 = time.monotonic()
        reference.start_driver()
        _wait_done(reference, 1800)
        reference_s = time.monotonic() - t0

        chaos = Run(cluster.address, work, "chaos", args.n_trials, concurrency, args.step_s)
        rng = random.Random(args.seed)
        schedule = ["driver_kill"] * args.driver_kills + [
            kind for kind in FAULTS if kind != "driver_kill" for _ in range(args.each_other)
        ]

        def inject(kind: str) -> bool:
            if kind in ("driver_kill", "torn_write"):
                chaos.kill_driver()
                if kind == "torn_write":
                    chaos.tear_last_segment()
                chaos.start_driver()
                return True
            if kind == "scheduler_kill":
                return _kill_worker(chaos.actor_pid("scheduler"))
            if kind == "sampler_kill":
                return _kill_worker(chaos.actor_pid("sampler"))
            if kind == "stalled_writer":
                return chaos.stall_writer()
            if kind == "runner_kill":
                pids = chaos.runner_pids()
                return _kill_worker(rng.choice(pids)) if pids else False
            victim = workers.pop(rng.randrange(len(workers)))
            cluster.remove_node(victim, allow_graceful=False)
            workers.append(cluster.add_node(num_cpus=2, object_store_memory=memory))
            return True

        t0 = time.monotonic()
        tally, notes = _under_faults(chaos, FAULTS, schedule, rng, args.every, inject)
        _wait_done(chaos, 1800)
        chaos_s = time.monotonic() - t0
        reference_trials, _ = _replay(reference.directory)
        chaos_trials, usage = _replay(chaos.directory)
        differences = _compare(reference_trials, chaos_trials)
        s3_lines = (
            _on_s3(cluster.address, work, args, concurrency, reference_trials)
            if args.s3_faults
            else ""
        )
    finally:
        cluster.shutdown()
    report = _report(
        tally,
        reference_trials,
        chaos_trials,
        differences,
        usage,
        notes + [f"driver exited unexpectedly: {e}" for e in chaos.unplanned_exits],
        reference_s,
        chaos_s,
        args,
        chaos.superseded,
    )
    return report + ("\n" + s3_lines if s3_lines else "")


def _under_faults(
    run: Run,
    kinds: tuple[str, ...],
    schedule: list[str],
    rng: random.Random,
    every: tuple[float, float],
    inject: Any,
) -> tuple[dict[str, FaultTally], list[str]]:
    """Start `run` and inject the shuffled `schedule`, checking after each fault."""
    rng.shuffle(schedule)
    tally = {kind: FaultTally() for kind in kinds}
    notes: list[str] = []
    run.start_driver()
    for kind in schedule:
        time.sleep(rng.uniform(*every))
        if run.done():
            notes.append(f"the study finished before {kind} #{tally[kind].injected + 1}")
            break
        before = run.finished()
        if not inject(kind):
            notes.append(f"{kind}: no live process to kill at that moment; skipped")
            continue
        tally[kind].injected += 1
        survived, lost = _watch(run, before)
        tally[kind].survived += survived
        tally[kind].lost += lost
    return tally, notes


def _on_s3(
    address: str,
    work: Path,
    args: argparse.Namespace,
    concurrency: int,
    reference: dict[int, Any],
) -> str:
    """The same study with its log on S3, under driver kills and cut uploads: its lines."""
    # The object-store tests' loopback S3 (moto) and their proxy that cuts segment uploads.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "orchestrator"))
    from s3_helpers import CuttingProxy, moto_server

    with moto_server() as server:
        proxy = CuttingProxy((server.host, server.port))
        bucket = server.new_bucket()
        run = Run(
            address,
            work,
            "chaos-s3",
            args.s3_trials,
            concurrency,
            args.step_s,
            storage=server.uri(bucket, "studies", endpoint=proxy.endpoint),
            location=server.uri(bucket, "studies/chaos-s3"),
        )
        rng = random.Random(args.seed + 1)

        def inject(kind: str) -> bool:
            if kind == "driver_kill":
                run.kill_driver()
                run.start_driver()
                return True
            done = proxy.cuts_done
            proxy.cut_uploads(1, rng.choice(["request", "answer"]))
            deadline = time.monotonic() + 30
            while proxy.cuts_done == done and time.monotonic() < deadline:
                time.sleep(0.05)
            return proxy.cuts_done > done

        schedule = [kind for kind in S3_FAULTS for _ in range(args.s3_faults)]
        t0 = time.monotonic()
        tally, notes = _under_faults(run, S3_FAULTS, schedule, rng, args.every, inject)
        _wait_done(run, 1800)
        elapsed = time.monotonic() - t0
        trials, _ = _replay(run.directory)
        proxy.close()
    expected = {n: t for n, t in reference.items() if n < args.s3_trials}
    differences = _compare(expected, trials)
    rows = [
        [kind, str(t.injected), f"{t.survived}/{t.injected}", str(t.lost)]
        for kind, t in tally.items()
    ]
    table = results_md.md_table(["fault (log on S3)", "injected", "survived", "results lost"], rows)
    lines = [
        f"Log on S3 (moto on loopback; segment uploads cut halfway through the body or after "
        f"the server stored them, before the answer): {args.s3_trials} trials, the same study "
        f"and seed; one fault every {args.every[0]:g}–{args.every[1]:g} s (seed {args.seed + 1}); "
        f"{elapsed:.0f} s.",
        f"Finished trials equal to the fault-free run's first {len(expected)}: "
        f"{len(expected) - len(differences)}/{len(expected)}; no trial created twice (replay "
        "refuses a log that creates one twice).",
        *notes,
    ]
    if differences:
        found = [line for lines_of in differences.values() for line in lines_of]
        lines.append("Differences: " + "; ".join(found[:10]))
    return table + "\n" + results_md.bullets(lines) + "\n"


def _watch(run: Run, before: dict[int, dict[str, Any]]) -> tuple[int, int]:
    """After a fault: (1 if the study made progress again, durable results lost)."""
    deadline = time.monotonic() + PROGRESS_WAIT_S
    after = run.finished()
    while len(after) <= len(before) and not run.done():
        if time.monotonic() > deadline:
            break
        time.sleep(0.25)
        after = run.finished() or after
    lost = sum(1 for number, payload in before.items() if after.get(number) != payload)
    progressed = len(after) > len(before) or run.done()
    return int(progressed), lost


def _report(
    tally: dict[str, FaultTally],
    reference: dict[int, Any],
    chaos: dict[int, Any],
    differences: dict[int, list[str]],
    usage: Any,
    notes: list[str],
    reference_s: float,
    chaos_s: float,
    args: argparse.Namespace,
    superseded: list[tuple[int | None, str]],
) -> str:
    rows = [
        [kind, str(t.injected), f"{t.survived}/{t.injected}", str(t.lost)]
        for kind, t in tally.items()
    ]
    total = FaultTally(
        sum(t.injected for t in tally.values()),
        sum(t.survived for t in tally.values()),
        sum(t.lost for t in tally.values()),
    )
    rows.append(
        ["**all**", str(total.injected), f"{total.survived}/{total.injected}", str(total.lost)]
    )
    table = results_md.md_table(["fault", "injected", "survived", "results lost"], rows)
    driver = tally["driver_kill"].survived + tally["torn_write"].survived
    driver_n = tally["driver_kill"].injected + tally["torn_write"].injected
    reruns = sum(1 for t in chaos.values() if t["attempt"] > 0)
    same = len(reference) - len(differences)
    lines = [
        f"Workload: {args.n_trials} trials of {STEPS} steps ({args.step_s:g} s each), "
        "RandomSampler (seed 11), 4 runners on 2 worker nodes of 2 CPUs; one fault every "
        f"{args.every[0]:g}–{args.every[1]:g} s from a shuffled schedule (seed {args.seed}).",
        f"Driver kills resumed: {driver}/{driver_n} (goal 20/20 with `driver_kill` + "
        "`torn_write`, each a SIGKILL of the driver).",
        f"Finished trials equal to the fault-free run's (state, params, values): {same}/"
        f"{len(reference)}; trial numbers created twice: 0 (checked on replay).",
        f"Completed results lost: {total.lost} (goal 0). Trials re-run after a fault: {reruns} "
        f"(each redoes at most one trial's {STEPS} steps: nothing here checkpoints); steps in the "
        f"log twice: {usage.repeated_steps} of {usage.reported_steps} (a killed runner's batched "
        "reports mostly never reach the log).",
        f"Wall time: fault-free {reference_s:.0f} s, with faults {chaos_s:.0f} s.",
    ]
    if differences:
        found = [line for lines_of in differences.values() for line in lines_of]
        lines.append("Differences: " + "; ".join(found[:10]))
    if superseded:
        refused = sum(1 for _, said in superseded if "StudyLockedError" in said)
        lines.append(
            f"Stalled writers taken over: {len(superseded)}; their drivers ended with "
            f"StudyLockedError (nothing more written): {refused}/{len(superseded)}."
        )
        lines += [
            f"A stalled writer's driver: exit {code}: {said[-200:]!r}"
            for code, said in superseded
            if "StudyLockedError" not in said
        ]
    lines += notes
    return table + "\n\n" + results_md.bullets(lines)


if __name__ == "__main__":
    main()
