"""Generate LC-Digits: a table of real MLP learning curves on scikit-learn's digits data set.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 nice -n 10 \\
        .venv/bin/python -m benchmarks.multi_fidelity.make_lc_digits --configs 512 --processes 2

Each configuration is an `MLPClassifier(solver="sgd", nesterovs_momentum=True)` trained with
`partial_fit`, one call per epoch (sklearn walks it in minibatches of `batch_size`), for
`EPOCHS` epochs under each of `SEEDS` seeds (the seed sets the weight initialisation and the
minibatch order). After every epoch it records the validation accuracy and the seconds that
epoch's `partial_fit` call took: wall time
(`epoch_seconds`, `time.perf_counter`) and CPU time (`epoch_cpu_seconds`, `time.process_time`,
which other processes competing for the cores of a shared machine do not inflate).

Data: `sklearn.datasets.load_digits()` (1797 8x8 images, 10 classes, bundled with scikit-learn),
one fixed stratified 70/30 train/validation split; features standardised with a scaler fitted on
the training split only.

Configurations: the first `--configs` points (a power of two) of a scrambled Sobol sequence in
6 dimensions with a fixed seed, mapped to the hyperparameters of `SPACE`. Integers use the same
rule as `raysweep.samplers.IntDistribution`: the coordinate spans half a step past each end
(in log space when log-uniform) and is rounded, so every integer gets its fair share. Since the
first 256 points of the 512-point sequence are the 256-point sequence, a smaller table is a
prefix of a larger one.

A configuration whose weights become non-finite (too large a learning rate) keeps training as
sklearn lets it (each later `partial_fit` raises and is caught, so its epoch time stays real);
its accuracy is whatever the broken net predicts (chance level) and the row's `diverged` is true.
No configuration is dropped.

Accuracies are deterministic given the seeds; the timings are not. Output: one Arrow IPC file
(zstd), one row per (config, seed, epoch).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import sklearn
from scipy.stats import qmc
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from benchmarks.multi_fidelity._lc_digits_table import DEFAULT_TABLE

EPOCHS = 27
SEEDS = 3
SOBOL_SEED = 20240601
SPLIT_SEED = 0
VALIDATION_FRACTION = 0.3

# name -> (kind, low, high, log). Order = the Sobol dimension order.
SPACE: dict[str, tuple[str, float, float, bool]] = {
    "learning_rate_init": ("float", 1e-4, 1.0, True),
    "alpha": ("float", 1e-7, 1e-1, True),
    "width": ("int", 8, 256, True),
    "depth": ("int", 1, 3, False),
    "batch_size": ("int", 16, 512, True),
    "momentum": ("float", 0.0, 0.99, False),
}

# sklearn raises this (as a ValueError) once the weights are no longer finite.
_NON_FINITE = "non-finite parameter weights"


def _from_unit(u: float, kind: str, low: float, high: float, log: bool) -> float | int:
    """Map a unit coordinate to a value, integers rounded from a half-step-extended range."""
    if kind == "int":
        lo, hi = low - 0.5, high + 0.5
        if log:
            value = math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))
        else:
            value = lo + u * (hi - lo)
        return int(min(max(math.floor(value + 0.5), low), high))
    if log:
        return math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
    return low + u * (high - low)


def configurations(count: int) -> list[dict[str, Any]]:
    """The first `count` Sobol configurations (count must be a power of two)."""
    if count < 1 or count & (count - 1):
        raise ValueError(f"--configs {count} is not a power of two; pass e.g. 256 or 512")
    sobol = qmc.Sobol(d=len(SPACE), scramble=True, rng=np.random.default_rng(SOBOL_SEED))
    points = sobol.random_base2(int(math.log2(count)))
    return [
        {
            name: _from_unit(float(u), *spec)
            for u, (name, spec) in zip(row, SPACE.items(), strict=True)
        }
        for row in points
    ]


def digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Standardised (x_train, x_val, y_train, y_val) of the fixed stratified split."""
    data = load_digits()
    x_train, x_val, y_train, y_val = train_test_split(
        data.data,
        data.target,
        test_size=VALIDATION_FRACTION,
        stratify=data.target,
        random_state=SPLIT_SEED,
    )
    scaler = StandardScaler().fit(x_train)
    return scaler.transform(x_train), scaler.transform(x_val), y_train, y_val


def _accuracy(model: MLPClassifier, x_val: np.ndarray, y_val: np.ndarray) -> float:
    with np.errstate(all="ignore"):
        return float(np.mean(model.predict(x_val) == y_val))


def train_curve(
    config_id: int, params: dict[str, Any], seed: int, data: tuple[np.ndarray, ...]
) -> list[tuple[float, float, float, bool]]:
    """(validation accuracy, wall seconds, CPU seconds, diverged) after each epoch of one run."""
    x_train, x_val, y_train, y_val = data
    init_seed = int(np.random.SeedSequence([config_id, seed]).generate_state(1)[0])
    model = MLPClassifier(
        hidden_layer_sizes=(params["width"],) * params["depth"],
        solver="sgd",
        learning_rate="constant",
        learning_rate_init=params["learning_rate_init"],
        alpha=params["alpha"],
        batch_size=params["batch_size"],
        momentum=params["momentum"],
        nesterovs_momentum=True,
        shuffle=False,  # the epoch's order is ours; sklearn would reshuffle within a minibatch
        random_state=init_seed,
    )
    classes = np.unique(y_train)
    first, diverged = True, False
    curve = []
    for epoch in range(1, EPOCHS + 1):
        order = np.random.default_rng([config_id, seed, epoch]).permutation(len(y_train))
        # One partial_fit call is one epoch: sklearn walks the rows in minibatches of
        # batch_size, in the order given (shuffle=False), so the epoch's order is ours.
        began, began_cpu = time.perf_counter(), time.process_time()
        try:
            if first:
                model.partial_fit(x_train[order], y_train[order], classes=classes)
            else:
                model.partial_fit(x_train[order], y_train[order])
        except ValueError as error:
            if _NON_FINITE not in str(error):
                raise
            diverged = True
        seconds = time.perf_counter() - began
        cpu_seconds = time.process_time() - began_cpu
        first = False
        curve.append((_accuracy(model, x_val, y_val), seconds, cpu_seconds, diverged))
    return curve


Curve = list[tuple[float, float, float, bool]]


def _run_config(job: tuple[int, dict[str, Any]]) -> tuple[int, list[Curve]]:
    config_id, params = job
    with threadpool_limits(limits=1), warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        data = _DATA if _DATA is not None else digits_split()
        return config_id, [train_curve(config_id, params, s, data) for s in range(SEEDS)]


_DATA: tuple[np.ndarray, ...] | None = None


def _init_worker() -> None:
    global _DATA
    _DATA = digits_split()


# Per-row columns in the order `train_curve` yields them, after the row's keys.
_MEASURED = {
    "val_accuracy": pa.float32(),
    "epoch_seconds": pa.float32(),
    "epoch_cpu_seconds": pa.float32(),
    "diverged": pa.bool_(),
}
_KEYS = {"config": pa.int32(), "seed": pa.int8(), "epoch": pa.int8()}


def _table(configs: list[dict[str, Any]], curves: dict[int, list[Curve]]) -> pa.Table:
    types = {**_KEYS, **_MEASURED}
    types.update({n: pa.int32() if s[0] == "int" else pa.float64() for n, s in SPACE.items()})
    columns: dict[str, list[Any]] = {name: [] for name in types}
    for config_id, params in enumerate(configs):
        for seed, curve in enumerate(curves[config_id]):
            for epoch, measured in enumerate(curve, 1):
                row = (config_id, seed, epoch, *measured, *(params[n] for n in SPACE))
                for name, value in zip(types, row, strict=True):
                    columns[name].append(value)
    return pa.table({k: pa.array(v, type=types[k]) for k, v in columns.items()})


def _metadata(count: int) -> dict[str, str]:
    return {
        "generator": "benchmarks/multi_fidelity/make_lc_digits.py",
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "dataset": "sklearn.datasets.load_digits() (1797 samples, 64 features, 10 classes)",
        "split": (
            f"train_test_split(test_size={VALIDATION_FRACTION}, stratify=y, "
            f"random_state={SPLIT_SEED}); StandardScaler fitted on the training split"
        ),
        "model": "MLPClassifier(solver='sgd', nesterovs_momentum=True, learning_rate='constant')",
        "configs": str(count),
        "epochs": str(EPOCHS),
        "seeds": str(SEEDS),
        "sobol": f"scipy.stats.qmc.Sobol(d=6, scramble=True, rng=default_rng({SOBOL_SEED}))",
        "space": json.dumps(SPACE),
    }


def _jobs(configs: list[dict[str, Any]]) -> Iterator[tuple[int, dict[str, Any]]]:
    # The slowest configurations (small batches, wide nets) first, so the tail is short.
    order = sorted(range(len(configs)), key=lambda i: configs[i]["batch_size"])
    return ((i, configs[i]) for i in order)


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments, train every configuration and write the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--configs", type=int, default=512, help="a power of two (default 512)")
    parser.add_argument("--out", type=Path, default=DEFAULT_TABLE, help="the Arrow file to write")
    parser.add_argument("--processes", type=int, default=1, help="worker processes (default 1)")
    args = parser.parse_args(argv)
    if args.processes < 1:
        parser.error(f"--processes {args.processes} must be at least 1")
    configs = configurations(args.configs)
    curves: dict[int, list[Any]] = {}
    began = time.perf_counter()
    if args.processes == 1:
        _init_worker()
        results: Iterator[Any] = map(_run_config, _jobs(configs))
        pool = None
    else:
        pool = multiprocessing.get_context("spawn").Pool(args.processes, _init_worker)
        results = pool.imap_unordered(_run_config, _jobs(configs))
    for done, (config_id, runs) in enumerate(results, 1):
        curves[config_id] = runs
        final = np.mean([run[-1][0] for run in runs])
        elapsed = time.perf_counter() - began
        print(
            f"[{done}/{len(configs)}] config {config_id}: final accuracy {final:.3f}, "
            f"{elapsed:.0f} s elapsed, ~{elapsed / done * (len(configs) - done):.0f} s left",
            flush=True,
        )
    if pool is not None:
        pool.close()
        pool.join()
    table = _table(configs, curves).replace_schema_metadata(_metadata(args.configs))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    feather.write_feather(table, str(args.out), compression="zstd")
    print(f"wrote {table.num_rows} rows to {args.out} ({args.out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
