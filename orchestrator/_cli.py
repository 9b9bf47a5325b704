"""`raysweep`: look at a study's log, and at the detached studies on a Ray cluster.

    raysweep trials ./studies/digits            # one line per trial
    raysweep trials ./studies/digits --csv out.csv
    raysweep log ./studies/digits               # what a replay reads, and what it dropped
    raysweep trials 's3://bucket/studies/digits?endpoint_override=host:9000&scheme=http'
    raysweep status                             # every detached study on the cluster
    raysweep attach digits                      # follow one until it ends (Ctrl-C: leave it)
    raysweep stop digits [--now]                # no new trials; running ones finish

`trials` and `log` read the log without Ray and without taking its lease: a study is named by
its folder or by its URI (any that ``pyarrow.fs`` opens: ``s3://``, ``gs://``; credentials from
the environment), and reading is safe while the study runs (the log is append-only and a
reader never writes). `status`, `attach` and `stop` find a study started with
``optimize(..., detach=True)`` by its name on the Ray cluster (``--address``, else
``RAY_ADDRESS``, else the one ``ray start`` recorded on this machine); they never start a Ray.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from raysweep.orchestrator._core._state import StudyState
from raysweep.orchestrator._detached import attach_study, detached_studies
from raysweep.orchestrator._errors import RaysweepError
from raysweep.orchestrator._ray._progress import ProgressDisplay
from raysweep.orchestrator._ray._study_host import RunState
from raysweep.orchestrator._storage._log import replay
from raysweep.orchestrator._storage._object_store import is_uri
from raysweep.orchestrator._table import trials_table


def _location(text: str) -> str | Path:
    """A study's folder, or its URI as given (a URI is not a path: its // must stay)."""
    return text if is_uri(text) else Path(text)


def _load(directory: str | os.PathLike[str]) -> StudyState:
    events, _ = replay(directory)
    state = StudyState.replay(events)
    if state.info is None:
        raise RaysweepError(f"{directory} holds an event log but no study was created in it")
    return state


def _trials(args: argparse.Namespace) -> int:
    state = _load(args.study)
    assert state.info is not None
    table = trials_table(
        state.records(), len(state.info.directions), state.placements(), state.hardware()
    )
    if args.csv is not None:
        import pyarrow as pa
        import pyarrow.csv as pa_csv

        # CSV has no lists: the nodes as one text, separated by spaces.
        nodes = pa.array(
            [None if n is None else " ".join(n) for n in table["placement_nodes"].to_pylist()],
            pa.string(),
        )
        flat = table.drop_columns(["intermediate_values"])
        flat = flat.set_column(flat.column_names.index("placement_nodes"), "placement_nodes", nodes)
        pa_csv.write_csv(flat, args.csv)
        print(f"wrote {flat.num_rows} trials to {args.csv}")
        return 0
    directions = ", ".join(d.value for d in state.info.directions)
    print(
        f"study {state.info.name!r} ({directions}, seed {state.info.seed}): {table.num_rows} trials"
    )
    params = [c for c in table.column_names if c.startswith("params_")]
    values = [c for c in table.column_names if c == "value" or c.startswith("values_")]
    columns = ["number", "state", "attempt", *values, *params]
    placed = ["placement_resources", "placement_nodes", "placement_slice"]
    for row in table.select([*columns, *placed]).to_pylist():
        shown = " ".join(
            f"{k.removeprefix('params_')}={_short(v)}"
            for k, v in row.items()
            if k in params and v is not None
        )
        result = " ".join(_short(row[k]) for k in values)
        print(
            f"{row['number']:>6} {row['state']:<9} attempt {row['attempt']} {result:>10}  {shown}"
            f"{_where(row['placement_resources'], row['placement_nodes'], row['placement_slice'])}"
        )
    return 0


def _where(resources: str | None, nodes: list[str] | None, slice_name: str | None) -> str:
    """Where a trial ran, shortly: its resources (per host), its nodes' ids (first 8
    characters) and, on a TPU slice, the slice's name and hosts."""
    if resources is None or nodes is None:
        return ""
    amounts = ", ".join(f"{k}: {_short(v)}" for k, v in json.loads(resources).items())
    on_slice = "" if slice_name is None else f" (slice {slice_name}, {len(nodes)} hosts)"
    return f"  on {{{amounts}}}{on_slice} @ {' '.join(n[:8] for n in nodes)}"


def _short(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _log(args: argparse.Namespace) -> int:
    events, report = replay(args.study)
    print(report.describe())
    kinds: dict[str, int] = {}
    for event in events:
        kinds[event.kind] = kinds.get(event.kind, 0) + 1
    for kind, count in sorted(kinds.items()):
        print(f"  {kind}: {count}")
    return 0 if report.clean else 1


# How often `raysweep attach` refreshes what it shows.
_ATTACH_REFRESH_S = 1.0


def _status(args: argparse.Namespace) -> int:
    if args.name is not None:
        print(attach_study(args.name, address=args.address).status().describe())
        return 0
    statuses = detached_studies(address=args.address)
    if not statuses:
        print("no detached studies on this Ray cluster")
    for status in statuses:
        print(status.describe())
    return 0


def _attach(args: argparse.Namespace) -> int:
    run = attach_study(args.name, address=args.address)
    status = run.status()
    print(status.describe(), file=sys.stderr)
    already = status.progress.finished if status.progress is not None else 0
    display = ProgressDisplay(total=status.n_trials, already=already, enabled=True)
    try:
        while not status.state.ended:
            if status.progress is not None:
                display.update(status.progress)
            time.sleep(_ATTACH_REFRESH_S)
            status = run.status()
    except KeyboardInterrupt:
        display.close(status.progress)
        print(
            f"left study {args.name!r} running (detached); stop it with "
            f"`raysweep stop {args.name}`",
            file=sys.stderr,
        )
        return 0
    display.close(status.progress)
    print(status.describe())
    return 1 if status.state is RunState.FAILED else 0


def _stop(args: argparse.Namespace) -> int:
    run = attach_study(args.name, address=args.address)
    before = run.status()
    if before.state.ended:
        run.stop()
        print(f"study {args.name!r} had already ended ({before.state.value}); removed it")
        return 0
    status = run.stop(now=args.now, wait=not args.no_wait, timeout=args.timeout)
    print(status.describe())
    if not status.state.ended:
        print(
            f"study {args.name!r} is stopping: running trials "
            + ("stop at their next report" if args.now else "finish first")
            + f"; `raysweep status {args.name}` says when it has ended",
            file=sys.stderr,
        )
    return 1 if status.state is RunState.FAILED else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="raysweep", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    trials = commands.add_parser("trials", help="list a study's trials")
    trials.add_argument("study", type=_location, help="the study's folder or URI: <storage>/<name>")
    trials.add_argument("--csv", type=Path, help="write the trials table to this CSV file")
    trials.set_defaults(run=_trials)
    log = commands.add_parser("log", help="replay a study's log and report what it holds")
    log.add_argument("study", type=_location, help="the study's folder or URI: <storage>/<name>")
    log.set_defaults(run=_log)
    address = argparse.ArgumentParser(add_help=False)
    address.add_argument(
        "--address", help="the Ray cluster (default: RAY_ADDRESS, else the one `ray start` ran)"
    )
    status = commands.add_parser(
        "status", parents=[address], help="the detached studies on the Ray cluster"
    )
    status.add_argument("name", nargs="?", help="one study's name (default: all)")
    status.set_defaults(run=_status)
    attach = commands.add_parser(
        "attach", parents=[address], help="follow a detached study until it ends"
    )
    attach.add_argument("name", help="the study's name")
    attach.set_defaults(run=_attach)
    stop = commands.add_parser("stop", parents=[address], help="stop a detached study cleanly")
    stop.add_argument("name", help="the study's name")
    stop.add_argument(
        "--now",
        action="store_true",
        help="running trials stop at their next report (recorded as interrupted; the next "
        "optimize re-runs them) instead of finishing",
    )
    stop.add_argument("--no-wait", action="store_true", help="return once the stop is asked")
    stop.add_argument("--timeout", type=float, help="wait at most this many seconds")
    stop.set_defaults(run=_stop)
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
    except RaysweepError as exc:
        print(f"raysweep: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `raysweep trials ... | head`: the reader has what it wanted
        sys.stderr.close()
        return 0
    return code


if __name__ == "__main__":
    raise SystemExit(main())
