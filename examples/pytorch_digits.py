"""PyTorch on a GPU: the quickstart's conditional search with a PyTorch network, under ASHA.

The search space is the quickstart's (the project brief's): the number of hidden layers, then units
and dropout per layer, the optimizer, and a log-scale learning rate. Each hidden layer is
Linear → ReLU → Dropout, then a Linear to the 10 classes of scikit-learn's bundled 8×8 digits
(no download). A trial trains for up to 27 epochs of mini-batches and reports its validation
accuracy after each one. ASHA's rungs are at 1, 3 and 9 epochs: with `--mode stop` (the default
here, as in the GPU comparison with Ray Tune) it stops the weak trials there; with `--mode
promote` every trial pauses there with a checkpoint (model, optimizer and shuffling state, on the
host) and frees its share of the GPU, and the best paused ones are resumed from it. The
checkpoint is made of state_dicts (tensors, numbers, dicts), which the default checkpoint format
stores as data: loading it runs no code, unlike a pickle.

With a GPU, trials share it: each runner holds a quarter of the GPU and one CPU, and four run at
once. A runner keeps its process (and its CUDA context) from trial to trial, and each trial puts
the whole data set on the device once, so an epoch moves no data between host and device. Without
a GPU the same script runs on the CPU.

    python examples/pytorch_digits.py                 # GPU if there is one, else CPU
    python examples/pytorch_digits.py --n-trials 6    # a short run; run again to resume
    python examples/pytorch_digits.py --mode promote  # pause at rungs, resume the best

The last line is machine-readable, for comparing with Ray Tune on the same machine:
    RESULT raysweep gpu_per_trial=0.25 wall_s=... total_epochs=... epochs_per_s=... best_acc=...
    mean_gpu_util=...% mode=... repeated_epochs=... pauses=... resumed=... continued=...
`wall_s` is the time of `Study.optimize` (it includes starting the runners); `total_epochs` is the
number of epochs the study's trials reported (repeated ones included; the whole study, so give
each comparison a fresh `--storage`); `mean_gpu_util` is NVML's busy %
of GPU 0 sampled during `optimize` (n/a without a GPU or pynvml); `continued` counts completed
trials whose network trained exactly 27 epochs in all (resumed from checkpoints, not retrained).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch
from _nvml import GpuBusySampler
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

from raysweep.orchestrator import Trial, create_study
from raysweep.samplers import RandomSampler, TrialState
from raysweep.scheduling import ASHA

EPOCHS = 27
BATCH_SIZE = 64


def _on_host(state: Any) -> Any:
    """A copy of a state dict with every tensor moved to the host, so the checkpoint holds no
    GPU memory while it is saved and loads on any device."""
    if isinstance(state, torch.Tensor):
        return state.detach().cpu()
    if isinstance(state, dict):
        return {key: _on_host(value) for key, value in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_on_host(value) for value in state)
    return state


def objective(trial: Trial) -> float:
    # Seeded per trial, before any layer is built: the same trial number draws the same weights,
    # dropout masks and batches, whichever runner runs it after whichever trial (bit for bit on
    # the CPU; CUDA kernels may still differ in the last bits).
    torch.manual_seed(trial.number)
    n_layers = trial.suggest_int("n_layers", 1, 3)
    layers: list[nn.Module] = []
    width = 64  # 8×8 pixels
    for i in range(n_layers):
        units = trial.suggest_int(f"n_units_l{i}", 32, 128)
        dropout = trial.suggest_float(f"dropout_l{i}", 0.2, 0.5)
        layers += [nn.Linear(width, units), nn.ReLU(), nn.Dropout(dropout)]
        width = units
    layers.append(nn.Linear(width, 10))
    optimizer_name = str(trial.suggest_categorical("optimizer", ["Adam", "RMSprop", "SGD"]))
    lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    x, y = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(
        x / 16.0, y, test_size=0.25, random_state=0, stratify=y
    )
    # The data set is tiny: put it on the device once per trial, and slice batches there.
    x_train_t = torch.as_tensor(x_train, dtype=torch.float32, device=device)
    y_train_t = torch.as_tensor(y_train, dtype=torch.long, device=device)
    x_val_t = torch.as_tensor(x_val, dtype=torch.float32, device=device)
    y_val_t = torch.as_tensor(y_val, dtype=torch.long, device=device)
    shuffle = torch.Generator(device=device).manual_seed(trial.number)

    model = nn.Sequential(*layers).to(device)
    optimizer = getattr(torch.optim, optimizer_name)(model.parameters(), lr=lr)
    first, trained = 1, 0
    saved = trial.checkpoint()  # promote mode: the state this trial paused with
    if saved is not None:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        shuffle.set_state(saved["shuffle"])  # a generator's state is a host tensor
        first, trained = saved["epoch"] + 1, saved["trained"]

    def checkpoint() -> dict[str, Any]:
        return {
            "model": _on_host(model.state_dict()),
            "optimizer": _on_host(optimizer.state_dict()),
            "shuffle": shuffle.get_state().cpu(),
            "epoch": epoch,
            "trained": trained,
        }

    loss_fn = nn.CrossEntropyLoss()
    n_train = len(x_train_t)
    accuracy = 0.0
    for epoch in range(first, EPOCHS + 1):
        model.train()
        order = torch.randperm(n_train, device=device, generator=shuffle)
        for start in range(0, n_train, BATCH_SIZE):
            batch = order[start : start + BATCH_SIZE]
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(x_train_t[batch]), y_train_t[batch]).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            accuracy = (model(x_val_t).argmax(dim=1) == y_val_t).float().mean().item()
        trained += 1
        # Stop mode: raises TrialPruned at a rung. Promote mode: may pause the trial there
        # (then `checkpoint()` is called and saved, and the trial ends for now).
        trial.report(accuracy, step=epoch, checkpoint=checkpoint)
    trial.set_user_attr("epochs_trained", trained)
    return accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", default="./studies")
    parser.add_argument("--study-name", default="digits-pytorch")
    parser.add_argument("--n-trials", type=int, default=24)
    parser.add_argument(
        "--max-concurrent", type=int, default=None, help="default: 4 with a GPU, 2 without"
    )
    parser.add_argument(
        "--gpu-per-trial", type=float, default=0.25, help="GPU share per trial (default 0.25)"
    )
    parser.add_argument("--mode", choices=["stop", "promote"], default="stop")
    args = parser.parse_args()

    gpu = torch.cuda.is_available()
    resources = {"GPU": args.gpu_per_trial, "CPU": 1} if gpu else {"CPU": 1}
    max_concurrent = args.max_concurrent
    if max_concurrent is None:
        max_concurrent = 4 if gpu else 2

    started = time.perf_counter()
    study = create_study(  # starts a local Ray unless one is running (or RAY_ADDRESS names one)
        name=args.study_name,
        storage=args.storage,
        direction="maximize",
        sampler=RandomSampler(seed=0),
        scheduler=ASHA(min_resource=1, max_resource=EPOCHS, reduction_factor=3, mode=args.mode),
        load_if_exists=True,
    )
    setup_s = time.perf_counter() - started
    before = {t.number for t in study.trials if t.state.is_finished()}

    with GpuBusySampler(enabled=gpu) as busy:
        started, started_at = time.perf_counter(), time.time()
        study.optimize(
            objective,
            n_trials=args.n_trials,
            max_concurrent=max_concurrent,
            resources=resources,
        )
        wall_s = time.perf_counter() - started
    returned_at = time.time()

    trials = study.trials
    usage = study.resource_usage()
    finished_here = [t for t in trials if t.number not in before and t.state.is_finished()]
    total_epochs = usage.reported_steps
    continued = sum(
        t.state is TrialState.COMPLETE and t.user_attrs.get("epochs_trained") == EPOCHS
        for t in trials
    )
    complete = [t for t in trials if t.state is TrialState.COMPLETE]
    best_acc = study.best_value if complete else float("nan")
    states = [t.state.value for t in trials]
    counts = ", ".join(f"{s} {states.count(s)}" for s in sorted(set(states)))
    print(f"device: {'cuda' if gpu else 'cpu'}, resources per trial: {resources}")
    print(f"create_study (Ray start, study actors): {setup_s:.1f}s")
    if finished_here:
        # Where optimize's wall time went: runner start-up, trials, and the wind-down.
        first = min(t.datetime_start or returned_at for t in finished_here) - started_at
        last = returned_at - max(t.datetime_complete or started_at for t in finished_here)
        print(
            f"optimize: first trial started at +{first:.1f}s, last ended {last:.1f}s before return"
        )
    print(f"trials: {len(states)} ({counts}); this run finished {len(finished_here)}")
    if complete:
        print(f"best value: {study.best_value:.4f}")
        print(f"best params: {study.best_params}")
    print(f"log: {study.directory}")
    print(
        f"RESULT raysweep gpu_per_trial={resources.get('GPU', 0)} wall_s={wall_s:.1f} "
        f"total_epochs={total_epochs} epochs_per_s={total_epochs / wall_s:.2f} "
        f"best_acc={best_acc:.4f} mean_gpu_util={busy.describe()} mode={args.mode} "
        f"repeated_epochs={usage.repeated_steps} pauses={usage.pauses} "
        f"resumed={usage.resumed_from_checkpoint} continued={continued} complete={len(complete)}"
    )
    study.close()


if __name__ == "__main__":
    main()
