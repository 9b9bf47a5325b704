"""Constrained sampler quality: raysweep's TPE against Optuna's TPE and random search.

    .venv/bin/python -m benchmarks.sampler_quality.constrained     # full: 5 problems x 10 seeds
    .venv/bin/python -m benchmarks.sampler_quality.constrained --seeds 2 --evals 40 \\
        --problems gardner --print-only                              # smoke

Systems: raysweep `TPESampler()` with its defaults, given each trial's constraints through
`TrialRecord.constraints`; Optuna `TPESampler(multivariate=True, n_startup_trials=<ours>,
seed=s)`, given them with `trial.set_constraint` (Optuna 5's own way: `constraints_func` is
deprecated since 5.0 and warns); raysweep `RandomSampler()`, blind to the constraints. All run
in-process, one trial after another. The problems, with their formulas and known optima, are in
`_constrained_problem.py`. Results go one JSON line per run to
`benchmarks/sampler_quality/results/constrained_runs.jsonl`, and the section between
`<!-- constrained:start -->` and `<!-- constrained:end -->` of `benchmarks/RESULTS.md` is
replaced.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from benchmarks._shared.results_md import md_table
from benchmarks._shared.stats import fmt, median
from benchmarks.sampler_quality import _cli as quality_cli
from benchmarks.sampler_quality import _constrained_problem
from benchmarks.sampler_quality import _pairs_report as pairs_report
from benchmarks.sampler_quality._systems import SYSTEMS

PAIRS = [("ours-tpe", "optuna-tpe"), ("ours-tpe", "random")]


def _log_regret(record: Mapping[str, Any]) -> float:
    found = record["result"]["log_regret"]
    return math.inf if found is None else float(found)


def main(argv: list[str] | None = None) -> None:
    found = quality_cli.parser(
        __doc__ or "",
        systems=("ours-tpe", "optuna-tpe", "random"),
        cache="constrained_runs.jsonl",
        evals=200,
    )
    found.add_argument(
        "--problems",
        nargs="+",
        default=list(_constrained_problem.PROBLEMS),
        choices=list(_constrained_problem.PROBLEMS),
        metavar="NAME",
    )
    args = found.parse_args(argv)
    quality_cli.check(found, args)
    problems = [{"name": p} for p in args.problems]
    outcome = quality_cli.run(
        _constrained_problem.__name__, "Sampler quality: constrained", args, problems
    )

    def label(r: Mapping[str, Any]) -> str:
        return str(r["problem"]["name"])

    regret = pairs_report.collect(outcome.records, label, _log_regret)
    share = pairs_report.collect(outcome.records, label, lambda r: r["result"]["feasible_share"])
    wall = pairs_report.collect(outcome.records, label, lambda r: r["wall_s"])
    rows = []
    for name in args.problems:
        for s in args.systems:
            values = regret.get((name, s))
            if not values:
                continue
            solved = [v for v in values if math.isfinite(v)]
            rows.append(
                [
                    name,
                    SYSTEMS[s].label,
                    fmt(median(values)),
                    pairs_report.mean_pm(solved, 2) if solved else "–",
                    f"{len(values) - len(solved)}/{len(values)}",
                    fmt(100 * float(np.mean(share[(name, s)])), 1),
                    fmt(float(np.mean(wall[(name, s)])), 2),
                ]
            )
    head = [
        "problem",
        "system",
        "median log10 regret",
        "log10 regret mean ± std (runs with a feasible point)",
        "runs without a feasible point",
        "feasible trials (%)",
        "s/run",
    ]
    compared, pair_lines = pairs_report.ours_vs_peers(
        PAIRS, args.systems, args.problems, regret, lower_is_better=True, metric="log10 regrets"
    )
    quality_cli.finish(
        "constrained",
        outcome,
        args,
        setup=f"{len(problems)} problem(s) × {args.seeds} seeds × {args.evals} evaluations per "
        "system. Per run: the best feasible value (every constraint <= 0) and its log10 regret "
        f"log10(max(best − f*, {_constrained_problem.FLOOR:g})) against the known optimum f*; "
        "a run without a feasible point has regret ∞ (ranked last by the test).",
        blocks=[md_table(head, rows, left=2), compared],
        reading=pair_lines,
    )


if __name__ == "__main__":
    main()
