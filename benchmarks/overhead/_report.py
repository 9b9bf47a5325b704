"""The overhead benchmark's markdown: table, ratios, a reading, and its RESULTS.md section."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from benchmarks._shared import results_md
from benchmarks.overhead._systems import CONCURRENCY, Measured

SECTION = "overhead"
START, END = results_md.markers(SECTION)
THROUGHPUT_GOAL = 10.0  # raysweep trials/s ÷ Tune trials/s
LATENCY_GOAL = 1.5  # decision p50 ÷ bare actor round trip p50

NO_PROBE = "raysweep, no probe"

_LABELS = {
    "raysweep": "raysweep",
    NO_PROBE: "raysweep, no probe ᵉ",
    "Ray Tune": "Ray Tune ᵃ",
    "Optuna": "Optuna, in-process ᵇ",
}


def percentile_ms(samples: Sequence[float], q: float) -> float | None:
    return float(np.percentile(samples, q)) * 1e3 if samples else None


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def _times(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def _pruned(m: Measured) -> str:
    return "–" if m.pruned is None else f"{100 * m.pruned / max(m.trials, 1):.0f}%"


def _by(results: Sequence[Measured], system: str, reports: int) -> Measured | None:
    return next((m for m in results if m.system == system and m.reports == reports), None)


@dataclass(frozen=True)
class _Row:
    """One R's runs: raysweep (with the probe), its throughput run, Ray Tune and Optuna.

    The throughput run is the one without the probe's pings, which the peers do not pay.
    """

    reports: int
    ours: Measured
    fast: Measured
    tune: Measured | None
    optuna: Measured | None


def _rows(results: Sequence[Measured], reports: Sequence[int]) -> list[_Row]:
    """One row per R at which raysweep ran."""
    rows = []
    for r in reports:
        ours = _by(results, "raysweep", r)
        if ours is not None:
            fast = _by(results, NO_PROBE, r) or ours
            rows.append(_Row(r, ours, fast, _by(results, "Ray Tune", r), _by(results, "Optuna", r)))
    return rows


def table(results: Sequence[Measured]) -> str:
    head = (
        "| reports/trial | system | trials | wall (s) | trials/s | results/s | pruned "
        "| decision p50 (ms) | decision p99 (ms) | samples |\n"
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    rows = []
    for m in results:
        lat = m.latency_s
        rows.append(
            f"| {m.reports} | {_LABELS[m.system]} | {m.trials} | {m.wall_s:.1f} "
            f"| {m.trials_per_s:.1f} | {m.results_per_s:.1f} "
            f"| {_pruned(m)} "
            f"| {_ms(percentile_ms(lat, 50))} | {_ms(percentile_ms(lat, 99))} | {len(lat)} |"
        )
        for label, samples in (
            ("bare Ray actor round trip ᶜ", m.rtt_s),
            ("hand-off between trials ᵈ", m.handoff_s),
        ):
            if samples:
                rows.append(
                    f"| {m.reports} | {label} | | | | | "
                    f"| {_ms(percentile_ms(samples, 50))} | {_ms(percentile_ms(samples, 99))} "
                    f"| {len(samples)} |"
                )
    return head + "\n".join(rows) + "\n"


def ratios(results: Sequence[Measured], reports: Sequence[int]) -> str:
    head = (
        f"| reports/trial | raysweep ÷ Tune, trials/s (goal ≥ {THROUGHPUT_GOAL:g}×) "
        "| raysweep ÷ Optuna, trials/s "
        f"| decision p50 ÷ round trip p50 (goal ≤ {LATENCY_GOAL:g}×) |\n"
        "|---:|---:|---:|---:|\n"
    )
    rows = [
        f"| {row.reports} | {_times(_throughput_ratio(row.fast, row.tune))} "
        f"| {_times(_throughput_ratio(row.fast, row.optuna))} "
        f"| {_times(latency_ratio(row.ours))} |"
        for row in _rows(results, reports)
    ]
    return head + "\n".join(rows) + "\n"


def _throughput_ratio(ours: Measured, peer: Measured | None) -> float | None:
    return _ratio(ours.trials_per_s, peer and peer.trials_per_s)


def latency_ratio(m: Measured) -> float | None:
    return _ratio(percentile_ms(m.latency_s, 50), percentile_ms(m.rtt_s, 50))


FOOTNOTES = """\
Decision latency is timed inside the objective with `time.perf_counter()`, only at rung steps
(1, 3, 9): raysweep, `trial.report()` until it returns or raises `TrialPruned`; Ray Tune,
`tune.report()`; Optuna, `trial.report()` + `trial.should_prune()`. Reports between rungs are
counted in results/s but not timed. Wall time is the one call (`study.optimize`, `Tuner.fit`),
start-up of runner actors and Tune's controller included. Every system runs 2 trials at a time
(Optuna: one process, `n_jobs=1`) with one CPU each, on one Ray session of 2 CPUs.

ᵃ Ray Tune: function trainable, `reuse_actors=True`, default loggers and callbacks. A trial that
ASHA stops never returns from its last `tune.report()` (the trainable is torn down), so Tune's
latency covers only reports that let the trial go on; a stop costs Tune more than that. With one
report per trial a stop looks like the trial's end, so Tune's pruned share is unknown (–).
ᵇ Optuna: `JournalStorage(JournalFileBackend)`, `SuccessiveHalvingPruner` — no Ray, no processes:
the floor for an in-process loop, not a distributed peer.
ᶜ One `ray.get(probe.ping.remote())` to a plain synchronous actor (`num_cpus=0`), timed in the same
raysweep objective just before each timed report: the same processes under the same load.
ᵈ raysweep, diagnostic: from one trial's return to the next trial's call on the same runner —
the `next_trial` round trip that hands back the outcome and fetches the next assignment.
ᵉ The same raysweep study without the probe's pings: the throughput to compare with the peers
(the ratios use it), since they pay no probe.
"""


def _breakdown(m: Measured) -> str:
    """Where a runner's time went, per trial, from the samples (ms)."""
    per_trial = m.wall_s * CONCURRENCY / m.trials * 1e3
    handoff, decisions, pings = (
        sum(samples) / m.trials * 1e3 for samples in (m.handoff_s, m.latency_s, m.rtt_s)
    )
    rest = per_trial - handoff - decisions - pings
    return (
        f" Per trial each runner spent {per_trial:.1f} ms: {handoff:.1f} in the hand-off, "
        f"{decisions:.1f} in rung reports, {pings:.1f} in the probe's pings (so raysweep's rate "
        f"includes ~{100 * pings / per_trial:.0f}% of probing), {rest:.1f} in the rest (runner "
        "start-up, the objective, reports between rungs)."
    )


def reading(results: Sequence[Measured], reports: Sequence[int]) -> str:
    lines = []
    for row in _rows(results, reports):
        r, ours, fast = row.reports, row.ours, row.fast
        parts = [
            f"With {r} report(s) per trial raysweep ran {fast.trials_per_s:.1f} trials/s "
            f"({ours.trials_per_s:.1f} with the latency probe)"
        ]
        vs_tune = _throughput_ratio(fast, row.tune)
        if vs_tune is not None:
            met = "meets" if vs_tune >= THROUGHPUT_GOAL else "misses"
            parts.append(f"{vs_tune:.1f}× Ray Tune ({met} the ≥ {THROUGHPUT_GOAL:g}× goal)")
        vs_optuna = _throughput_ratio(fast, row.optuna)
        if vs_optuna is not None:
            parts.append(f"{vs_optuna:.2f}× Optuna in-process")
        sentence = ", ".join(parts) + "."
        lat = latency_ratio(ours)
        if lat is not None:
            met = "meets" if lat <= LATENCY_GOAL else "misses"
            sentence += (
                f" Its decision p50 is {_ms(percentile_ms(ours.latency_s, 50))} ms, "
                f"{lat:.2f}× the bare actor round trip of "
                f"{_ms(percentile_ms(ours.rtt_s, 50))} ms measured in the same runners "
                f"({met} the ≤ {LATENCY_GOAL:g}× goal)."
            )
        if ours.handoff_drift_s is not None:
            early, late = ours.handoff_drift_s
            sentence += (
                f" The hand-off between trials took {_ms(percentile_ms(ours.handoff_s, 50))} ms "
                f"(p50): {early * 1e3:.2f} ms over each runner's first fifth of trials, "
                f"{late * 1e3:.2f} ms over its last fifth."
            )
        sentence += _breakdown(ours)
        lines.append("- " + sentence)
    return "\n".join(lines) + "\n"


def section(
    results: Sequence[Measured],
    reports: Sequence[int],
    *,
    command: str,
    date: str,
    machine: str,
    total_s: float,
    load_after: str,
    notes: Sequence[str],
) -> str:
    extra = results_md.bullets(notes)
    return (
        f"{START}\n## Overhead: no-op trials\n\n"
        f"Command: `{command}`  \nDate: {date}; total run time {total_s / 60:.1f} min  \n"
        f"Machine: {machine}; after it {load_after}\n\n"
        "A no-op objective (one `suggest_float`, then `report` at steps 1..R, return x), "
        "random sampling with seed 0, ASHA with rungs at steps 1, 3 and 9 "
        "(min 1, max 10, reduction factor 3).\n\n"
        f"{table(results)}\n{ratios(results, reports)}\n{FOOTNOTES}\n"
        f"### Reading\n\n{reading(results, reports)}{extra}\n{END}\n"
    )
