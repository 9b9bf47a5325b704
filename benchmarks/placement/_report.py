"""The tables, goals and reading of the placement benchmark's RESULTS.md section."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence

from benchmarks._shared.results_md import md_table
from benchmarks._shared.stats import compare, fmt_p, smallest_p
from benchmarks.placement._loop import CREATING, PROMOTIONS_ONLY, Result
from benchmarks.placement._model import BASELINES, CLUSTER, POLICIES, RAYSWEEP, RUNNER_ASKS

GOAL_MAKESPAN, GOAL_UTILISATION = 0.7, 0.9
# policy key -> seed -> its run
Runs = Mapping[str, Mapping[int, Result]]


def _mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else math.nan


def _pct(share: float) -> str:
    return f"{100 * share:.0f} %" if math.isfinite(share) else "–"


def _num(value: float | None, digits: int = 1) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def makespan_ratio(runs: Runs, key: str, base: str, seed: int | None = None) -> float:
    """`key`'s makespan ÷ `base`'s on the same seed, or the ratio of their means (seed None)."""
    if seed is not None:
        return runs[key][seed].makespan / runs[base][seed].makespan
    ours = _mean([r.makespan for r in runs[key].values()])
    return ours / _mean([r.makespan for r in runs[base].values()])


def main_table(runs: Runs) -> str:
    bases = [b for b in BASELINES if b.key in runs]
    head = [
        "policy",
        "seed",
        "makespan",
        *(f"÷ {b.name}" for b in bases),
        "CPU busy while queued",
        "GPU busy while queued",
        "time queued",
        "CPU / GPU busy over the makespan",
        "epochs to top-5%",
        "time to top-5%",
    ]
    rows = []
    for key, by_seed in runs.items():
        name = POLICIES[key].name
        for seed, r in sorted(by_seed.items()):
            rows.append(
                [
                    name,
                    str(seed),
                    _num(r.makespan),
                    *(f"{makespan_ratio(runs, key, b.key, seed):.2f}" for b in bases),
                    _pct(r.queued_utilisation["CPU"]),
                    _pct(r.queued_utilisation["GPU"]),
                    _num(r.queued_time),
                    f"{_pct(r.utilisation['CPU'])} / {_pct(r.utilisation['GPU'])}",
                    str(r.epochs_to_target) if r.epochs_to_target is not None else "not reached",
                    _num(r.time_to_target),
                ]
            )
        results = list(by_seed.values())
        reached = [r for r in results if r.epochs_to_target is not None]
        rows.append(
            [
                f"**{name}**",
                "**mean**",
                f"**{_num(_mean([r.makespan for r in results]))}**",
                *(f"**{makespan_ratio(runs, key, b.key):.2f}**" for b in bases),
                _pct(_mean([r.queued_utilisation["CPU"] for r in results])),
                _pct(_mean([r.queued_utilisation["GPU"] for r in results])),
                _num(_mean([r.queued_time for r in results])),
                f"{_pct(_mean([r.utilisation['CPU'] for r in results]))} / "
                f"{_pct(_mean([r.utilisation['GPU'] for r in results]))}",
                _num(_mean([float(r.epochs_to_target or 0) for r in reached]), 0)
                + ("" if len(reached) == len(results) else f" ({len(reached)} reached)"),
                _num(_mean([r.time_to_target or 0.0 for r in reached])),
            ]
        )
    return md_table(head, rows, left=2)


def _waits(results: Sequence[Result], rung: int) -> str:
    waits = [w for r in results for w in r.promotion_waits.get(rung, [])]
    if not waits:
        return "–"
    return f"{_mean(waits):.2f} / {max(waits):.1f}"


def _shapes(results: Sequence[Result], rung: int) -> str:
    counts: dict[str, int] = {}
    for r in results:
        for shape, n in r.shapes_by_rung.get(rung, {}).items():
            counts[shape] = counts.get(shape, 0) + n
    total = sum(counts.values())
    if not total:
        return "–"
    parts = sorted(counts.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{_short(shape)} {100 * n / total:.0f} %" for shape, n in parts)


def _short(shape: str) -> str:
    if "H100" in shape:
        return "H100"
    if "GPU: 1" in shape:
        return "1 GPU"
    if "GPU: 0.25" in shape:
        return "¼ GPU"
    return "8 CPU"


def detail_table(runs: Runs) -> str:
    head = [
        "policy",
        "last new trial started",
        "queued with new trials left: time, CPU / GPU busy",
        "queued, promotions only: time, CPU / GPU busy",
        "runner starts / reuses / retirements",
        "promotion wait from rung 1 / 3 / 9 (mean / max)",
        "new trials ran on",
        "rung-3 promotions ran on",
        "rung-9 promotions ran on",
    ]
    rows = []
    for key, by_seed in runs.items():
        results = list(by_seed.values())

        def phase(name: str, results: Sequence[Result] = results) -> str:
            time = _mean([r.queued_phases[name]["time"] for r in results])
            if time <= 0:
                return "0"
            cpu = _mean([r.queued_phases[name]["CPU"] for r in results])
            gpu = _mean([r.queued_phases[name]["GPU"] for r in results])
            return f"{time:.1f}: {_pct(cpu)} / {_pct(gpu)}"

        rows.append(
            [
                POLICIES[key].name,
                _num(_mean([r.last_created for r in results])),
                phase(CREATING),
                phase(PROMOTIONS_ONLY),
                " / ".join(
                    f"{_mean([float(getattr(r, f)) for r in results]):.0f}"
                    for f in ("starts", "reuses", "retirements")
                ),
                " · ".join(_waits(results, rung) for rung in (1, 3, 9)),
                _shapes(results, 0),
                _shapes(results, 3),
                _shapes(results, 9),
            ]
        )
    return md_table(head, rows)


def goal_lines(runs: Runs) -> list[str]:
    lines = []
    for policy in (RAYSWEEP, RUNNER_ASKS):
        if policy.key not in runs:
            continue
        ours = runs[policy.key]
        for base in BASELINES:
            if base.key not in runs:
                continue
            ratios = [makespan_ratio(runs, policy.key, base.key, s) for s in sorted(ours)]
            mean = makespan_ratio(runs, policy.key, base.key)
            test = compare(
                [r.makespan for r in ours.values()], [r.makespan for r in runs[base.key].values()]
            )
            met = sum(r <= GOAL_MAKESPAN for r in ratios)
            lines.append(
                f"**Makespan ≤ {GOAL_MAKESPAN}× FCFS** ({policy.name} against {base.name}): "
                f"ratio of the means {mean:.2f}, per seed "
                + ", ".join(f"{r:.2f}" for r in ratios)
                + f": {'met' if mean <= GOAL_MAKESPAN else 'not met'} (met on {met} of "
                f"{len(ratios)} seeds). Mann–Whitney U, two-sided: p = {fmt_p(test.p)} "
                f"({test.outcome} for raysweep; the smallest p {len(ours)} against "
                f"{len(runs[base.key])} runs can give is "
                f"{fmt_p(smallest_p(len(ours), len(runs[base.key])))})."
            )
        cpu = [r.queued_utilisation["CPU"] for r in ours.values()]
        gpu = [r.queued_utilisation["GPU"] for r in ours.values()]
        both = min(_mean(cpu), _mean(gpu))
        lines.append(
            f"**Utilisation ≥ {_pct(GOAL_UTILISATION)} while work is queued** ({policy.name}): "
            f"CPU {_pct(_mean(cpu))} (seeds {_pct(min(cpu))}–{_pct(max(cpu))}), GPU "
            f"{_pct(_mean(gpu))} (seeds {_pct(min(gpu))}–{_pct(max(gpu))}): "
            f"{'met' if both >= GOAL_UTILISATION else 'not met'}."
        )
    return lines


def _phase(results: Sequence[Result], name: str, kind: str) -> float:
    return _mean([r.queued_phases[name][kind] for r in results])


def reading_lines(runs: Runs) -> list[str]:
    """What the runs show, with their numbers; the mechanisms are the loop's and the
    planner's rules, so they hold whatever the figures."""
    lines: list[str] = []
    ours = list(runs.get(RAYSWEEP.key, {}).values())
    if not ours:
        return lines
    parts = [
        f"{base.name} {_mean([r.last_created for r in runs[base.key].values()]):.1f} "
        f"(makespan {_mean([r.makespan for r in runs[base.key].values()]):.1f})"
        for base in BASELINES
        if base.key in runs
    ]
    lines.append(
        "The last new trial starts at "
        f"{_mean([r.last_created for r in ours]):.1f} with the planner (makespan "
        f"{_mean([r.makespan for r in ours]):.1f}), with " + ", with ".join(parts) + ". A "
        "card in quarters does more epochs than whole (per time unit, 1.6 against 0.625 on an "
        "A100, 2.5 against 1 on an H100), so quarters get through the new trials faster than "
        "a whole-GPU shape, "
        "and the planner adds the CPU-only nodes. A fixed quarter is about as fast there, but "
        "then runs every promotion on a quarter, rung 9's 18 epochs included (45 time units on "
        "an A100 quarter, 18 on a whole H100): what is left of the planner's lead on it is "
        "that tail."
    )
    lines.append(
        "Where the utilisation goes (planner): while new trials were left, "
        f"{_pct(_phase(ours, CREATING, 'CPU'))} of the CPUs and "
        f"{_pct(_phase(ours, CREATING, 'GPU'))} of the GPUs were busy over "
        f"{_phase(ours, CREATING, 'time'):.1f} time units queued; once only promotions were "
        f"left, {_pct(_phase(ours, PROMOTIONS_ONLY, 'CPU'))} / "
        f"{_pct(_phase(ours, PROMOTIONS_ONLY, 'GPU'))} over "
        f"{_phase(ours, PROMOTIONS_ONLY, 'time'):.1f}. A rung-9 promotion accepts only a whole "
        "H100: while it waits for one (the H100 node's cards are shared by quarters, which the "
        "node must drain once it is kept for the promotion), A100s and CPU nodes idle. And "
        "the TrialScheduler hands the planner one promotion at a time (the highest rung "
        "first), so the promotions from rungs 1 and 3 behind a waiting rung-9 one are not "
        "offered at all, though quarters and CPU nodes are free for them."
    )
    what_if = list(runs.get("all-promotions", {}).values())
    if what_if:
        lines.append(
            "The what-if row offers every promotion ASHA would grant at once: utilisation while "
            f"queued {_pct(_mean([r.queued_utilisation['CPU'] for r in what_if]))} CPU / "
            f"{_pct(_mean([r.queued_utilisation['GPU'] for r in what_if]))} GPU (planner "
            f"{_pct(_mean([r.queued_utilisation['CPU'] for r in ours]))} / "
            f"{_pct(_mean([r.queued_utilisation['GPU'] for r in ours]))}), makespan "
            f"{_mean([r.makespan for r in what_if]):.1f} (planner "
            f"{_mean([r.makespan for r in ours]):.1f}); rung-9 promotions then wait longer "
            f"({_waits(what_if, 9)} against {_waits(ours, 9)}, mean / max): the lower-rung "
            "promotions now offered beside them take H100 quarters too."
        )
    asks = list(runs.get(RUNNER_ASKS.key, {}).values())
    if asks:
        lines.append(
            "Runners asking first (the TrialScheduler's own hand-out, before the planner): "
            f"makespan {_mean([r.makespan for r in asks]):.1f} against "
            f"{_mean([r.makespan for r in ours]):.1f}. A runner whose trial ended takes the "
            "work whose shapes include its own without waiting for the planner, except on a "
            "node the planner keeps for work ahead of it (before that rule, quarter runners on "
            "the H100 node went on taking new trials while it was kept for a rung-9 promotion, "
            "and makespan was 107.5); the longest rung-9 wait is "
            f"{_waits(asks, 9).split(' / ')[-1]} time units (planner "
            f"{_waits(ours, 9).split(' / ')[-1]})."
        )
    fcfs = list(runs.get(BASELINES[0].key, {}).values())
    if fcfs:
        everyone = all(r.epochs_to_target is not None for by in runs.values() for r in by.values())
        lines.append(
            "Epochs to a top-5% completion"
            + (": every run got one. " if everyone else " (of the runs that got one): ")
            + "FCFS with a whole GPU needs "
            f"fewer epochs ({_mean([float(r.epochs_to_target or 0) for r in fcfs]):.0f} "
            f"against {_mean([float(r.epochs_to_target or 0) for r in ours]):.0f}), most likely "
            "because it runs 16 trials at a time instead of up to 68: fewer trials have started "
            "when ASHA first promotes one to the full budget. In time the policies are close "
            f"({_mean([r.time_to_target or 0.0 for r in fcfs]):.1f} against "
            f"{_mean([r.time_to_target or 0.0 for r in ours]):.1f})."
        )
    cpu_only = sum(n.cpus for n in CLUSTER if not n.gpus)
    share = 1 - cpu_only / sum(n.cpus for n in CLUSTER)
    lines.append(
        f"FCFS keeps its GPUs fully busy while work is queued, but never uses the {cpu_only} "
        f"CPUs of the CPU-only nodes ({_pct(share)} of the CPUs at most); it has no idle "
        "runners, since a trial's room is given back when it pauses."
    )
    return lines
