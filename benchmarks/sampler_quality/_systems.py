"""The systems a quality benchmark compares, looked up lazily: a sampler that does not exist yet
(another helper is writing it) is reported as not available instead of failing the run.

Every system has a configuration (JSON): the sampler's class and every argument it runs with,
the seed aside (it is part of a run's key). For our samplers that is `to_json()` plus a digest of
the source of the sampler's module and of every `raysweep.samplers` module it imports, so that a
changed sampler invalidates its cached runs. For Optuna it is the arguments passed explicitly and
Optuna's version. Optuna's peers take the settings that must match ours (TPE's start-up trials,
NSGA-II's population size) from our samplers' defaults when those exist.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks._shared.optuna_logging import quiet_optuna
from benchmarks.sampler_quality._drive import (
    Problem,
    Trace,
    drive_optuna,
    drive_ours,
)

# Optuna's own defaults: used for the peer when our sampler (and so its default) is missing.
FALLBACK_STARTUP = 10
FALLBACK_POPULATION = 50


@dataclass(frozen=True)
class SystemInfo:
    """How the report names a system, and what it runs."""

    name: str
    label: str  # for tables
    ours: str | None = None  # the class name in raysweep.samplers, for our systems


SYSTEMS = {
    s.name: s
    for s in (
        SystemInfo("ours-tpe", "ours TPE", "TPESampler"),
        SystemInfo("ours-nsga2", "ours NSGA-II", "NSGA2Sampler"),
        SystemInfo("optuna-tpe", "Optuna TPE"),
        SystemInfo("optuna-nsga2", "Optuna NSGA-II"),
        SystemInfo("random", "random", "RandomSampler"),
    )
}


def ours_class(class_name: str) -> type | None:
    """`raysweep.samplers.<class_name>`, or None while it does not exist."""
    try:
        module = importlib.import_module("raysweep.samplers")
    except ImportError:
        return None
    found = getattr(module, class_name, None)
    return found if isinstance(found, type) else None


@functools.cache
def ours_defaults(class_name: str) -> dict[str, Any] | None:
    """The constructor arguments of `class_name()` as its `to_json()` states them."""
    cls = ours_class(class_name)
    if cls is None:
        return None
    arguments: dict[str, Any] = cls().to_json()["arguments"]
    return arguments


def _default(class_name: str, argument: str, fallback: int) -> int:
    defaults = ours_defaults(class_name)
    value = None if defaults is None else defaults.get(argument)
    return fallback if value is None else int(value)


@functools.cache
def source_digest(module_name: str) -> str:
    """SHA-256 (12 hex digits) of `module_name`'s source and of every raysweep.samplers module it
    imports, transitively."""
    seen: set[str] = set()
    stack = [module_name]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue
        tree = ast.parse(Path(spec.origin).read_bytes())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported = [node.module]
            elif isinstance(node, ast.Import):
                imported = [alias.name for alias in node.names]
            else:
                continue
            stack.extend(m for m in imported if m.startswith("raysweep.samplers"))
    digest = hashlib.sha256()
    for name in sorted(seen):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin is not None:
            digest.update(name.encode() + b"\0" + Path(spec.origin).read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def _optuna_arguments(name: str, problem: Problem) -> dict[str, Any]:
    if name == "optuna-tpe":
        arguments: dict[str, Any] = {
            "multivariate": True,
            "n_startup_trials": _default("TPESampler", "n_startup_trials", FALLBACK_STARTUP),
        }
    else:
        arguments = {
            "population_size": _default("NSGA2Sampler", "population_size", FALLBACK_POPULATION)
        }
    return arguments


def config(name: str, problem: Problem) -> dict[str, Any] | None:
    """The system's configuration for runs on `problem`, or None when it is not available."""
    info = SYSTEMS[name]
    if info.ours is not None:
        cls = ours_class(info.ours)
        if cls is None:
            return None
        return {
            "sampler": cls().to_json(),
            "source": source_digest(cls.__module__),
        }
    import optuna

    cls_name = "TPESampler" if name == "optuna-tpe" else "NSGAIISampler"
    found: dict[str, Any] = {
        "sampler": {
            "class": f"optuna.samplers.{cls_name}",
            "arguments": _optuna_arguments(name, problem),
        },
        "optuna": optuna.__version__,
    }
    if problem.constrained:
        found["constraints"] = "trial.set_constraint"
    return found


def availability(names: list[str], problem: Problem) -> dict[str, bool]:
    return {name: config(name, problem) is not None for name in names}


def run(name: str, problem: Problem, seed: int, evals: int) -> Trace:
    """One run of system `name` on `problem` with seed `seed`."""
    info = SYSTEMS[name]
    if info.ours is not None:
        cls = ours_class(info.ours)
        if cls is None:
            raise RuntimeError(f"{name}: raysweep.samplers has no {info.ours} yet")
        return drive_ours(cls(), problem, evals, seed)
    import optuna

    quiet_optuna()
    arguments = _optuna_arguments(name, problem)
    cls = optuna.samplers.TPESampler if name == "optuna-tpe" else optuna.samplers.NSGAIISampler
    return drive_optuna(cls(seed=seed, **arguments), problem, evals)


def legend(names: list[str], problem: Problem) -> str:
    """One line per system: its table label, name and exact configuration (the seed aside)."""
    lines = []
    for name in names:
        found = config(name, problem)
        if found is None:
            lines.append(f"- {SYSTEMS[name].label} (`{name}`): not available")
            continue
        sampler = found["sampler"]
        arguments = ", ".join(f"{k}={v!r}" for k, v in sampler["arguments"].items() if k != "seed")
        where = f"source {found['source']}" if "source" in found else f"Optuna {found['optuna']}"
        if "constraints" in found:
            where += f"; constraints reported with `{found['constraints']}`"
        lines.append(
            f"- {SYSTEMS[name].label} (`{name}`): `{sampler['class']}({arguments})`, seed = run "
            f"seed; {where}"
        )
    return "\n".join(lines) + "\n"
