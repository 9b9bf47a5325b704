"""BBOB sampler quality: raysweep's TPE against Optuna's TPE and random search, side by side.

    .venv/bin/python -m benchmarks.sampler_quality.bbob       # the full run: 24 f x 3 d x 10 seeds
    .venv/bin/python -m benchmarks.sampler_quality.bbob --seeds 2 --dims 2 --functions 1 2 \\
        --evals 30 --print-only                                     # smoke

Each run minimizes one BBOB function (IOHprofiler's `ioh`, box [-5, 5]^d, parameters x0..x{d-1}
as floats) for `--evals` evaluations; seed s uses BBOB instance s and sampler seed s. Systems:
raysweep `TPESampler()` with its defaults, Optuna `TPESampler(multivariate=True,
n_startup_trials=<ours>, seed=s)`, and raysweep `RandomSampler()`; the bare samplers run
in-process, one trial after another (no Ray). Results go one JSON line per run to
`benchmarks/sampler_quality/results/bbob_runs.jsonl`; runs already there are not rerun, so an
interrupted run resumes. The script prints a markdown section and replaces its part of
`benchmarks/RESULTS.md` (between `<!-- bbob:start -->` and `<!-- bbob:end -->`).
"""

from __future__ import annotations

from benchmarks.sampler_quality import _bbob_problem
from benchmarks.sampler_quality import _bbob_report as report
from benchmarks.sampler_quality import _cli as quality_cli
from benchmarks.sampler_quality._systems import SYSTEMS

DEFINITIONS = """\
Per run, regret r = best f found − f_opt and log regret = log10(max(r, 1e-8)).
ᵃ Normalized log regret: per (function, dim), (log regret − the lowest log regret of any run of
the systems in this table on it) / (highest − lowest), so 0 is the best run there and 1 the worst;
averaged first over a cell's seeds, then over cells (each (function, dim) weighs the same). It
depends on which systems are in the table.
ᵇ Δ decades vs random median: log regret − the median log regret of random search on the same
(function, dim), averaged like ᵃ; negative is better, −1 is ten times less regret. It does not
depend on the other systems.
W/T/L: a two-sided Mann–Whitney U test on the final log regrets of the seeds at p < 0.05; W when
ours is significantly lower, L when significantly higher, T otherwise.
"""


def main(argv: list[str] | None = None) -> None:
    found = quality_cli.parser(
        __doc__ or "",
        systems=("ours-tpe", "optuna-tpe", "random"),
        cache="bbob_runs.jsonl",
        evals=200,
    )
    found.add_argument("--functions", type=int, nargs="+", default=list(range(1, 25)))
    found.add_argument("--dims", type=int, nargs="+", default=[2, 5, 10])
    found.add_argument("--ours", default="ours-tpe", choices=sorted(SYSTEMS), help="W/T/L for")
    found.add_argument("--peer", default="optuna-tpe", choices=sorted(SYSTEMS), help="W/T/L vs")
    args = found.parse_args(argv)
    quality_cli.check(found, args)
    if any(not 1 <= f <= 24 for f in args.functions) or any(d < 2 for d in args.dims):
        found.error("--functions are BBOB ids 1..24 and --dims at least 2")
    problems = [{"fid": f, "dim": d} for d in args.dims for f in args.functions]
    outcome = quality_cli.run(
        _bbob_problem.__name__, "Sampler quality: BBOB", args, problems, ("optuna", "ioh")
    )
    runs = report.Runs.collect(outcome.records)
    systems = [s for s in args.systems if any(k[0] == s for k in runs.log_regret)]
    baseline = "random" if "random" in systems else None
    peers = [p for p in (args.peer, baseline) if p is not None and p != args.ours]
    quality_cli.finish(
        "bbob",
        outcome,
        args,
        setup=f"{len(args.functions)} function(s) × dims {args.dims} × {args.seeds} seeds × "
        f"{args.evals} evaluations per system; seed s: BBOB instance s, sampler seed s.",
        blocks=[
            report.summary(runs, systems, args.dims, baseline),
            report.wtl_table(runs, args.ours, peers, args.dims),
            DEFINITIONS,
        ],
        reading=report.reading(runs, args.ours, args.peer, baseline),
        appendix="### Per (function, dim)\n\n" + report.per_cell(runs, systems, args.ours, peers),
    )


if __name__ == "__main__":
    main()
