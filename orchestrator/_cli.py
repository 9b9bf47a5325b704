"""`raysweep`: look at a study's log without Ray and without taking its lease.

    raysweep trials ./studies/digits            # one line per trial
    raysweep trials ./studies/digits --csv out.csv
    raysweep log ./studies/digits               # what a replay reads, and what it dropped
    raysweep trials 's3://bucket/studies/digits?endpoint_override=host:9000&scheme=http'

A study is named by its folder or by its URI (any that ``pyarrow.fs`` opens: ``s3://``,
``gs://``; credentials from the environment). Reading is safe while the study runs: the log is
append-only and a reader never writes.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from raysweep.orchestrator._core._state import StudyState
from raysweep.orchestrator._errors import RaysweepError
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
    table = trials_table(state.records(), len(state.info.directions))
    if args.csv is not None:
        import pyarrow.csv as pa_csv

        flat = table.drop_columns(["intermediate_values"])
        pa_csv.write_csv(flat, args.csv)
        print(f"wrote {flat.num_rows} trials to {args.csv}")
        return 0
    directions = ", ".join(d.value for d in state.info.directions)
    print(
        f"study {state.info.name!r} ({directions}, seed {state.info.seed}): {table.num_rows} trials"
    )
    params = [c for c in table.column_names if c.startswith("params_")]
    values = [c for c in table.column_names if c == "value" or c.startswith("values_")]
    for row in table.select(["number", "state", "attempt", *values, *params]).to_pylist():
        shown = " ".join(
            f"{k.removeprefix('params_')}={_short(v)}"
            for k, v in row.items()
            if k in params and v is not None
        )
        result = " ".join(_short(row[k]) for k in values)
        print(
            f"{row['number']:>6} {row['state']:<9} attempt {row['attempt']} {result:>10}  {shown}"
        )
    return 0


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
