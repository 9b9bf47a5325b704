"""raysweep on exactly the workload of the Ray Tune GPU baseline, for a like-for-like ratio.

The baseline (../shared/gpu/ray_tune_baseline.py) trains a small PyTorch MLP on synthetic data
(40,000 × 512 on the GPU; 27 epochs at most; ASHA at 1/3/9 epochs; 24 trials; `lr` log-uniform
in [1e-3, 0.5]; width in {256, 512, 1024, 2048}). This script runs the same trainable through
raysweep with the same share of the GPU per trial and prints a RESULT line in the baseline's
format.

    python3 -m benchmarks.gpu.same_workload --gpu-per-trial 0.25
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

# The GPU busy sampler lives with the example that also uses it (examples/ is not a package).
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))

from _nvml import GpuBusySampler

from raysweep.orchestrator import Trial, create_study
from raysweep.samplers import RandomSampler, TrialState
from raysweep.scheduling import ASHA

EPOCHS = 27


def trainable(trial: Trial) -> float:
    import torch

    lr = trial.suggest_float("lr", 1e-3, 0.5, log=True)
    width = int(trial.suggest_categorical("width", [256, 512, 1024, 2048]))  # type: ignore[arg-type]
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    g = torch.Generator(device=dev).manual_seed(0)
    x = torch.randn(40000, 512, device=dev, generator=g)
    y = (x[:, :16].sum(1) > 0).long()
    model = torch.nn.Sequential(
        torch.nn.Linear(512, width),
        torch.nn.ReLU(),
        torch.nn.Linear(width, width),
        torch.nn.ReLU(),
        torch.nn.Linear(width, 2),
    ).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    lossf = torch.nn.CrossEntropyLoss()
    acc = 0.0
    for epoch in range(1, EPOCHS + 1):
        for i in range(0, 32000, 256):
            opt.zero_grad()
            loss = lossf(model(x[i : i + 256]), y[i : i + 256])
            loss.backward()
            opt.step()
        with torch.no_grad():
            acc = (model(x[32000:]).argmax(1) == y[32000:]).float().mean().item()
        trial.report(acc, step=epoch)
    return acc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu-per-trial", type=float, default=0.25)
    parser.add_argument("--n-trials", type=int, default=24)
    args = parser.parse_args()
    import torch

    gpu = torch.cuda.is_available()
    resources = {"GPU": args.gpu_per_trial, "CPU": 1} if gpu else {"CPU": 1}
    concurrent = max(1, round(1 / args.gpu_per_trial)) if gpu else 2
    study = create_study(
        name="same-workload",
        storage=tempfile.mkdtemp(prefix="raysweep-same-workload-"),
        direction="maximize",
        sampler=RandomSampler(seed=0),
        scheduler=ASHA(min_resource=1, max_resource=EPOCHS, reduction_factor=3),
    )
    with GpuBusySampler(enabled=gpu) as busy:
        started = time.perf_counter()
        study.optimize(
            trainable,
            n_trials=args.n_trials,
            max_concurrent=concurrent,
            resources=resources,
            show_progress=False,
        )
        wall = time.perf_counter() - started
    trials = study.trials
    epochs = sum(len(t.intermediate_values) for t in trials)
    complete = [t for t in trials if t.state is TrialState.COMPLETE]
    best = study.best_value if complete else float("nan")
    print(
        f"RESULT raysweep-same-workload gpu_per_trial={resources.get('GPU', 0)} wall_s={wall:.1f} "
        f"total_epochs={epochs} epochs_per_s={epochs / wall:.2f} best_acc={best:.4f} "
        f"mean_gpu_util={busy.describe()}"
    )
    study.close()


if __name__ == "__main__":
    main()
