"""Quickstart: a conditional network search on scikit-learn's digits, scheduled by ASHA, on Ray.

The search space is the project brief's: the number of hidden layers, then units and dropout per
layer, the optimizer, and a log-scale learning rate. The model is scikit-learn's MLP trained one
epoch at a time with `partial_fit`; it has no dropout, so dropout is drawn and recorded (it shapes
the search space and the log) but not used. RMSprop is Adam with beta_1 = 0.

ASHA runs in promote mode by default: a trial that reaches a rung pauses and hands over its
model as a checkpoint; when it earns promotion it resumes from that checkpoint and goes on
training. `--mode stop` cuts the trials that fall behind instead (what Ray Tune and Optuna do).
The checkpoint is the scikit-learn model itself, which only a pickle holds, so the study opts into
`checkpoint_format="pickle"`: that trusts the storage (whoever can write ./studies can run code
in the runners). examples/pytorch_digits.py checkpoints state_dicts in the default, safe format.

    python examples/quickstart.py            # about a minute on 2 cores; run it again to resume
    python examples/quickstart.py --detach   # on a cluster (`ray start --head`): the study goes
                                             # on after the script; `raysweep attach digits`
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from raysweep.orchestrator import Trial, create_study
from raysweep.samplers import TPESampler
from raysweep.scheduling import ASHA

EPOCHS = 27
SOLVERS = {
    "Adam": {"solver": "adam"},
    "RMSprop": {"solver": "adam", "beta_1": 0.0},
    "SGD": {"solver": "sgd", "momentum": 0.9},
}


def objective(trial: Trial) -> float:
    n_layers = trial.suggest_int("n_layers", 1, 3)
    units = []
    for i in range(n_layers):
        units.append(trial.suggest_int(f"n_units_l{i}", 32, 128))
        trial.suggest_float(f"dropout_l{i}", 0.2, 0.5)
    optimizer = trial.suggest_categorical("optimizer", ["Adam", "RMSprop", "SGD"])
    lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)

    x, y = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(
        x / 16.0, y, test_size=0.25, random_state=0, stratify=y
    )
    model = MLPClassifier(
        hidden_layer_sizes=tuple(units),
        learning_rate_init=lr,
        batch_size=64,
        random_state=trial.number,
        **SOLVERS[str(optimizer)],
    )
    first = 1
    saved = trial.checkpoint()  # the state this trial paused with, when it was promoted
    if saved is not None:
        model, first = saved["model"], saved["epoch"] + 1
    classes = np.unique(y)
    accuracy = 0.0
    for epoch in range(first, EPOCHS + 1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.partial_fit(x_train, y_train, classes=classes)
        accuracy = float(model.score(x_val, y_val))
        # Stop mode: raises TrialPruned when ASHA stops the trial. Promote mode: when ASHA
        # pauses it at a rung, the checkpoint function is called and the trial ends for now.
        trial.report(accuracy, step=epoch, checkpoint=lambda e=epoch: {"model": model, "epoch": e})
    # Epochs this model really trained: EPOCHS when every resume continued its checkpoint.
    trial.set_user_attr("epochs_trained", int(model.t_) // len(x_train))
    return accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", default="./studies")
    parser.add_argument("--n-trials", type=int, default=60)
    parser.add_argument("--max-concurrent", type=int, default=2)
    parser.add_argument("--mode", choices=["promote", "stop"], default="promote")
    parser.add_argument(
        "--detach", action="store_true", help="run the study detached on the Ray cluster"
    )
    args = parser.parse_args()

    study = create_study(
        name="digits",
        storage=args.storage,
        direction="maximize",
        sampler=TPESampler(seed=0),
        scheduler=ASHA(min_resource=1, max_resource=EPOCHS, reduction_factor=3, mode=args.mode),
        load_if_exists=True,
        # The checkpoint is an MLPClassifier object: only a pickle holds it. Pickle trusts the
        # storage: whoever can write it can run code in every runner.
        checkpoint_format="pickle",
    )
    run = study.optimize(
        objective,
        n_trials=args.n_trials,
        max_concurrent=args.max_concurrent,
        resources={"CPU": 1},
        detach=args.detach,
    )
    if run is not None:
        print(f"study {run.name!r} runs detached (log: {study.directory})")
        return
    table = study.trials_table()
    states = table.column("state").to_pylist()
    counts = ", ".join(f"{s} {states.count(s)}" for s in sorted(set(states)))
    print(f"trials: {len(states)} ({counts})")
    print(f"best value: {study.best_value:.4f}")
    print(f"best params: {study.best_params}")
    usage = study.resource_usage()
    print(
        f"epochs: {usage.reported_steps} ({usage.repeated_steps} repeated); pauses "
        f"{usage.pauses}, resumed from a checkpoint {usage.resumed_from_checkpoint}"
    )
    print(f"log: {study.directory}")


if __name__ == "__main__":
    main()
