"""Multi-objective sampler quality: hypervolume after 200 evaluations on ZDT1–3 and DTLZ2.

    .venv/bin/python -m benchmarks.sampler_quality.multiobjective    # full: 4 problems x 10 seeds
    .venv/bin/python -m benchmarks.sampler_quality.multiobjective --seeds 2 --evals 40 \\
        --problems zdt1 --print-only                                   # smoke

Systems: raysweep `NSGA2Sampler()` and `TPESampler()` with their defaults, Optuna
`NSGAIISampler(population_size=<ours>, seed=s)` and `TPESampler(multivariate=True,
n_startup_trials=<ours>, seed=s)`, and raysweep `RandomSampler()`; in-process, one trial after
another. Problems and the hypervolume are defined in `_mo_problem.py`: ZDT with n = 5 variables
(not the usual 30: after 200 evaluations no system has a single point inside the reference box
at n = 30 or n = 10, so every hypervolume would be 0), DTLZ2 with 3 objectives and n = 12.
Results go one JSON line per run to
`benchmarks/sampler_quality/results/multiobjective_runs.jsonl`, and the section between
`<!-- multiobjective:start -->` and `<!-- multiobjective:end -->` of `benchmarks/RESULTS.md` is
replaced.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

import raysweep.samplers
from benchmarks._shared.results_md import md_table
from benchmarks._shared.stats import fmt
from benchmarks.sampler_quality import _cli as quality_cli
from benchmarks.sampler_quality import _mo_problem
from benchmarks.sampler_quality import _pairs_report as pairs_report
from benchmarks.sampler_quality._systems import SYSTEMS

PAIRS = [
    ("ours-nsga2", "optuna-nsga2"),
    ("ours-tpe", "optuna-tpe"),
    ("ours-nsga2", "random"),
    ("ours-tpe", "random"),
]


def check_hypervolume() -> str:
    """Assert that raysweep's hypervolume agrees with Optuna's (used here) on two fixed fronts."""
    ours = getattr(raysweep.samplers, "hypervolume", None)
    if ours is None:
        return "raysweep.samplers.hypervolume not available: the cross-check was skipped."
    rng = np.random.default_rng(0)
    checked = []
    for m, n in ((2, 60), (3, 60)):
        # Points on a sphere's octant (a front), some pushed outward (dominated), some outside.
        points = np.abs(rng.normal(size=(n, m)))
        points /= np.linalg.norm(points, axis=1, keepdims=True)
        points *= rng.uniform(1.0, 1.3, size=(n, 1))
        reference = np.full(m, _mo_problem.REFERENCE)
        theirs = _mo_problem.hypervolume(points, m)
        found = float(ours(points, reference))
        assert np.isclose(found, theirs, rtol=1e-10, atol=1e-12), (m, found, theirs)
        checked.append(f"{m} objectives: {theirs:.10f}")
    return (
        "Hypervolume: Optuna's `compute_hypervolume` for every system; raysweep's "
        f"`hypervolume` agrees with it on two fixed {n}-point sets ({'; '.join(checked)})."
    )


def main(argv: list[str] | None = None) -> None:
    systems = ("ours-nsga2", "ours-tpe", "optuna-nsga2", "optuna-tpe", "random")
    found = quality_cli.parser(
        __doc__ or "", systems=systems, cache="multiobjective_runs.jsonl", evals=200
    )
    found.add_argument(
        "--problems", nargs="+", default=["zdt1", "zdt2", "zdt3", "dtlz2"], metavar="NAME"
    )
    found.add_argument("--zdt-n", type=int, default=5, help="ZDT variables (default 5)")
    found.add_argument("--dtlz2-n", type=int, default=12, help="DTLZ2 variables (default 12)")
    args = found.parse_args(argv)
    quality_cli.check(found, args)
    if args.zdt_n < 2 or args.dtlz2_n < 3:
        found.error("--zdt-n must be >= 2 and --dtlz2-n >= 3")
    checked = check_hypervolume()
    problems = [
        {"name": p, "n": args.dtlz2_n if p == "dtlz2" else args.zdt_n} for p in args.problems
    ]
    outcome = quality_cli.run(
        _mo_problem.__name__, "Sampler quality: multi-objective", args, problems
    )

    def label(r: Mapping[str, Any]) -> str:
        return f"{r['problem']['name'].upper()} (n={r['problem']['n']})"

    names = [label({"problem": p}) for p in problems]
    hv = pairs_report.collect(outcome.records, label, lambda r: r["result"]["hv"])
    share = pairs_report.collect(outcome.records, label, lambda r: r["result"]["hv_share"])
    wall = pairs_report.collect(outcome.records, label, lambda r: r["wall_s"])
    rows = []
    for name in names:
        for s in args.systems:
            values = hv.get((name, s))
            if not values:
                continue
            rows.append(
                [
                    name,
                    SYSTEMS[s].label,
                    pairs_report.mean_pm(values),
                    fmt(100 * float(np.mean(share[(name, s)])), 1),
                    f"{sum(v > 0 for v in values)}/{len(values)}",
                    fmt(float(np.mean(wall[(name, s)])), 2),
                ]
            )
    head = ["problem", "system", "HV mean ± std", "% of true front's HV", "HV > 0", "s/run"]
    compared, pair_lines = pairs_report.ours_vs_peers(
        PAIRS,
        args.systems,
        names,
        hv,
        lower_is_better=False,
        metric="hypervolumes",
        ratio="mean HV ours ÷ peer",
    )
    quality_cli.finish(
        "multiobjective",
        outcome,
        args,
        setup=f"{len(problems)} problem(s) × {args.seeds} seeds × {args.evals} evaluations per "
        "system; all objectives minimized, normalized by the true front's ideal and nadir points; "
        f"hypervolume against the reference point {_mo_problem.REFERENCE} in every objective "
        "(points outside that box add nothing).",
        blocks=[f"{checked}\n", md_table(head, rows, left=2), compared],
        reading=pair_lines,
    )


if __name__ == "__main__":
    main()
