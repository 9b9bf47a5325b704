"""Live placement benchmark: raysweep against Ray Tune on a simulated multi-node Ray cluster.

    .venv/bin/python -m benchmarks.placement.live            # 3 rounds (~6 min)
    .venv/bin/python -m benchmarks.placement.live --quick    # smoke: 1 round, not written

The cluster (`tests/orchestrator/cluster_host.py`, in a process session of its own): a head
with no CPU, one node with 2 CPUs and 2 fake GPUs, one with 2 CPUs. The study: 27 trials of a
synthetic learning curve (config `i` fixes its rate; the same configs for both systems), ASHA
on rungs 1, 3, 9. An epoch sleeps `GPU_EPOCH_S` on a GPU (a share or a whole one) and
`CPU_EPOCH_S` on a CPU, so where a trial runs is what it costs.

- raysweep: promote mode, `resources=` a function: new trials and rung-1 promotions take half
  a GPU when one is free, else a CPU (`[{GPU: 0.5, CPU: 0.5}, {CPU: 1}]`); promotions from rung
  3 a whole GPU. Up to 6 trials at once (4 halves and the CPU node's 2).
- Ray Tune 2.60: `tune.with_resources(trainable, resources=lambda config: {...})`, its ASHA
  (stop mode; it has no promote-and-resume), `reuse_actors=True`: one shape per trial, half a
  GPU, since a lambda of the config cannot say "a GPU if free, else a CPU" — so the CPU node
  idles; up to 6 trials at once (4 fit).

Each round runs both, in alternating order, each in a driver subprocess against the cluster.
Reported: wall time, trials/s, epochs run, the best final value reached (quality) and the
ratio raysweep / Ray Tune. The issue's goal: ≥ 1.5x trials per second at equal quality.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks._shared.results_md import RESULTS, command, machine, utc_now, wrap, write_section

ROOT = Path(__file__).resolve().parents[2]
HOST = ROOT / "tests" / "orchestrator" / "cluster_host.py"
SECTION = "placement-live"
N_TRIALS, MAX_EPOCHS, CONCURRENCY = 27, 9, 6
GPU_EPOCH_S, CPU_EPOCH_S = 0.1, 0.3
WORKERS = [{"num_cpus": 2, "num_gpus": 2}, {"num_cpus": 2}]
MARK = "@cluster "

# What each driver runs; it prints one RESULT line. The curve: value(i, e) rises to a plateau
# that config i fixes, at one rate for all, so early values rank configs as final ones do and
# both schedulers can find the best: the comparison is of placement, not of ASHA variants.
_COMMON = r"""
import json, math, sys, time
import ray
address, system, workdir = sys.argv[1:4]
N, EPOCHS, CONC, GPU_S, CPU_S = %(n)d, %(epochs)d, %(conc)d, %(gpu)r, %(cpu)r

def value(i, epoch):
    plateau = 0.5 + 0.5 * ((i * 0.6180339887) %% 1.0)
    return plateau * (1.0 - math.exp(-0.5 * epoch))

ray.init(address=address, log_to_driver=False)
start = time.perf_counter()
"""

_OURS = r"""
from raysweep.orchestrator import create_study
from raysweep.samplers import GridSampler
from raysweep.scheduling import ASHA

def objective(trial):
    i = trial.suggest_int("i", 0, N - 1)
    on_gpu = "GPU" in trial.placement.resources
    saved = trial.checkpoint()
    first = 1 if saved is None else saved["epoch"] + 1
    v = 0.0
    for epoch in range(first, EPOCHS + 1):
        time.sleep(GPU_S if on_gpu else CPU_S)
        v = value(i, epoch)
        trial.report(v, epoch, checkpoint=lambda e=epoch: {"epoch": e})
    return v

def resources(params, rung):
    if rung >= 3:
        return {"GPU": 1, "CPU": 1}
    return [{"GPU": 0.5, "CPU": 0.5}, {"CPU": 1}]

study = create_study(name="live", storage=workdir, sampler=GridSampler({"i": list(range(N))}),
                     direction="maximize",
                     scheduler=ASHA(min_resource=1, max_resource=EPOCHS, reduction_factor=3,
                                    mode="promote"))
study.optimize(objective, n_trials=N, max_concurrent=CONC, resources=resources,
               show_progress=False)
wall = time.perf_counter() - start
trials = study.trials
epochs = sum(len(t.intermediate_values) for t in trials)
# As for Tune: the best last value any trial reported.
best = max(t.intermediate_values[max(t.intermediate_values)] for t in trials
           if t.intermediate_values)
# Where the wall time goes: from optimize() to the first trial's start (the pool, the storage
# check, runner processes), as the log dates them.
from raysweep.orchestrator._storage._log import read_events
events = list(read_events(study.directory))
began = next(e.ts for e in events if e.kind == "optimize_started")
first = min(e.ts for e in events if e.kind == "trial_started")
print("RESULT " + json.dumps({"wall": wall, "trials": len(trials), "epochs": epochs,
                              "best": best, "first_trial_s": first - began}))
"""

_TUNE = r"""
from ray import tune
from ray.tune.schedulers import ASHAScheduler

def trainable(config):
    on_gpu = bool(ray.get_gpu_ids())
    for epoch in range(1, EPOCHS + 1):
        time.sleep(GPU_S if on_gpu else CPU_S)
        tune.report({"v": value(config["i"], epoch)})

tuner = tune.Tuner(
    tune.with_resources(trainable, resources=lambda config: {"gpu": 0.5, "cpu": 0.5}),
    param_space={"i": tune.grid_search(list(range(N)))},
    tune_config=tune.TuneConfig(
        scheduler=ASHAScheduler(time_attr="training_iteration", metric="v", mode="max",
                                max_t=EPOCHS, grace_period=1, reduction_factor=3),
        reuse_actors=True, max_concurrent_trials=CONC),
    run_config=tune.RunConfig(storage_path=workdir, verbose=0),
)
results = tuner.fit()
wall = time.perf_counter() - start
epochs = sum(int(r.metrics.get("training_iteration", 0)) for r in results)
best = max(r.metrics["v"] for r in results if r.metrics and "v" in r.metrics)
done = [r for r in results if r.metrics and r.metrics.get("training_iteration") == EPOCHS]
print("RESULT " + json.dumps({"wall": wall, "trials": len(results), "epochs": epochs,
                              "best": best, "full": len(done)}))
"""


def _script(system: str) -> str:
    common = _COMMON % {
        "n": N_TRIALS,
        "epochs": MAX_EPOCHS,
        "conc": CONCURRENCY,
        "gpu": GPU_EPOCH_S,
        "cpu": CPU_EPOCH_S,
    }
    return common + (_OURS if system == "raysweep" else _TUNE)


class _Cluster:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HOST), json.dumps({"workers": WORKERS})],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=dict(os.environ, RAY_ADDRESS=""),
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        for line in iter(self.proc.stdout.readline, ""):
            if line.startswith(MARK):
                self.address = json.loads(line[len(MARK) :])["address"]
                return
        raise RuntimeError("the cluster did not start")

    def close(self) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write('{"op": "quit"}\n')
            self.proc.stdin.flush()
            self.proc.wait(timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, 9)


def _run(cluster: _Cluster, system: str, workdir: Path) -> dict[str, Any]:
    load = os.getloadavg()[0]
    out = subprocess.run(
        [sys.executable, "-c", _script(system), cluster.address, system, str(workdir)],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
        env=dict(os.environ, RAY_ADDRESS="", PYTHONPATH=str(ROOT)),
    )
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"{system} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    result = json.loads(line[len("RESULT ") :])
    result.update(system=system, load_start=load, load_end=os.getloadavg()[0])
    result["trials_per_s"] = result["trials"] / result["wall"]
    return result


def _body(runs: list[dict[str, Any]], rounds: int) -> str:
    lines = [
        "## Placement, live: raysweep vs Ray Tune on a simulated multi-node cluster",
        "",
        f"Command: `{command()}`  ",
        f"Date: {utc_now()}  ",
        f"Machine: {machine('ray')}",
        "",
        "Cluster (`ray.cluster_utils.Cluster`, one process session): head with no CPU, a node "
        "of 2 CPUs and 2 fake GPUs, a node of 2 CPUs. Study: "
        f"{N_TRIALS} configs of a synthetic curve (the same for both), ASHA rungs 1/3/9, an "
        f"epoch {GPU_EPOCH_S} s on a GPU share, {CPU_EPOCH_S} s on a CPU, up to {CONCURRENCY} "
        "at once. raysweep: promote mode, `resources=` a function (half a GPU if free, else a "
        "CPU; a whole GPU from rung 3). Ray Tune: `tune.with_resources(trainable, "
        "resources=lambda config: {'gpu': 0.5, 'cpu': 0.5})`, ASHA (stop), "
        "`reuse_actors=True`. Both systems in each round, order alternating.",
        "",
        "| round | system | wall s | trials/s | epochs | best value | load 1-min at start / end |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for index, run in enumerate(runs):
        lines.append(
            f"| {index // 2 + 1} | {run['system']} | {run['wall']:.1f} | "
            f"{run['trials_per_s']:.3f} | {run['epochs']} | {run['best']:.4f} | "
            f"{run['load_start']:.2f} / {run['load_end']:.2f} |"
        )
    ours = [r for r in runs if r["system"] == "raysweep"]
    tune = [r for r in runs if r["system"] == "raytune"]
    ratios = [o["trials_per_s"] / t["trials_per_s"] for o, t in zip(ours, tune, strict=True)]
    mean = statistics.fmean(ratios)
    quality = statistics.fmean(o["best"] for o in ours) - statistics.fmean(t["best"] for t in tune)
    verdict = "met" if mean >= 1.5 and quality >= -0.005 else "not met"
    first = statistics.fmean(o["first_trial_s"] for o in ours)
    lines += [
        "",
        f"Trials per second, raysweep / Ray Tune: {mean:.2f}x (rounds: "
        + ", ".join(f"{r:.2f}" for r in ratios)
        + f"); best value, raysweep minus Ray Tune: {quality:+.4f} (mean over {rounds} rounds). "
        f"Goal ≥ 1.5x at equal quality: {verdict}.",
        "",
        f"raysweep's time from `optimize()` to its first trial: {first:.1f} s (mean; the "
        "runner pool, the shared-storage check on each node, and six runner processes "
        "importing raysweep at once on 2 cores), of its "
        f"{statistics.fmean(o['wall'] for o in ours):.1f} s mean wall time.",
        "",
        "Reading: Ray Tune's one shape per trial keeps its trials on the GPU node's 4 halves, "
        "and the CPU node idles; raysweep takes a CPU when the halves are busy and moves "
        "promotions from rung 3 onto a whole GPU, resuming from the checkpoint. Both are run "
        "with sleeps standing for epochs, so the figures measure placement and per-trial "
        "overhead, not training; at this size (27 trials of under a second each) start-up "
        "dominates, which the start-up issue takes on.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 round, nothing written")
    args = parser.parse_args(argv)
    rounds = 1 if args.quick else args.rounds
    import tempfile

    cluster = _Cluster()
    runs: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="rs-live-") as scratch:
            for index in range(rounds):
                order = ("raysweep", "raytune") if index % 2 == 0 else ("raytune", "raysweep")
                done = {}
                for system in order:
                    done[system] = _run(cluster, system, Path(scratch) / f"{system}-{index}")
                    print(json.dumps(done[system]), file=sys.stderr)
                runs += [done["raysweep"], done["raytune"]]
    finally:
        cluster.close()
    body = _body(runs, rounds)
    print(wrap(SECTION, body))
    if not args.quick:
        write_section(RESULTS, SECTION, wrap(SECTION, body))


if __name__ == "__main__":
    main()
