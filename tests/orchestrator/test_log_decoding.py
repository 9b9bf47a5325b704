"""Reading a long log fast changes nothing it reads: batches of payloads decode as each payload
alone would, batches are built without pandas, shared distributions are still validated, and
the garbage collector is left as it was found (what a TrialScheduler replayed frozen until it
closes)."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

from raysweep.orchestrator._core._state import StudyState
from raysweep.orchestrator._storage._event import Event, decode_payload, decode_payloads
from raysweep.orchestrator._storage._format import (
    SCHEMA,
    Record,
    batch_from_records,
    records_from_batch,
)
from raysweep.orchestrator._storage._log import EventLog, replay
from raysweep.samplers import IntDistribution, InvalidDistributionError, RandomSampler
from raysweep.scheduling import ASHA


def test_a_batch_of_payloads_decodes_as_each_one_alone() -> None:
    texts = ["{}", '{"a":[1,2.5,null]}', '{"é":"日本"}', '{"n":{"m":true}}']
    assert decode_payloads(texts) == [decode_payload(t) for t in texts]
    assert decode_payloads([]) == []


@pytest.mark.parametrize("bad", ['{"a":1},{"b":2}', "1,2", "[1]", '"x"', "", "{", "}{"])
def test_a_batch_with_a_payload_that_is_not_one_object_is_refused(bad: str) -> None:
    # Joined, some of these would parse (two objects, a list of numbers): the count and the
    # types are checked, and the texts parsed one by one to name the error.
    with pytest.raises(ValueError):
        decode_payloads(['{"ok":1}', bad, "{}"])


def test_a_segment_batch_with_such_a_payload_is_a_torn_tail(tmp_path: Path) -> None:
    (tmp_path / "segments").mkdir(parents=True)
    with ipc.new_stream(tmp_path / "segments" / f"seg-{0:020d}.arrows", SCHEMA) as writer:
        writer.write_batch(batch_from_records([Record(0, 1.0, "a", None, "{}")]))
        records = [Record(1, 1.0, "b", None, "{}"), Record(2, 2.0, "c", None, "1,2")]
        writer.write_batch(batch_from_records(records))
    events, report = replay(tmp_path)
    assert [e.kind for e in events] == ["a"]
    (torn,) = report.torn_tails
    assert "damaged batch" in torn.reason


def test_batches_built_from_buffers_equal_those_pyarrow_builds() -> None:
    records = [
        Record(0, 1.5, "study_created", None, "{}"),
        Record(1, 2.0, "trial_created", 0, '{"é":"🎲"}'),
        Record(2, -3.0, "k", 2**62, '{"x":[1,2]}'),
        Record(3, 4.0, "k", None, ""),
    ]
    arrays = [pa.array([r[i] for r in records], type=f.type) for i, f in enumerate(SCHEMA)]
    expected = pa.RecordBatch.from_arrays(arrays, schema=SCHEMA)
    built = batch_from_records(records)
    built.validate(full=True)
    assert built.equals(expected) and built.schema.equals(SCHEMA, check_metadata=True)
    assert records_from_batch(built) == records
    assert batch_from_records([]).num_rows == 0


_WITHOUT_PANDAS = """
import sys, tempfile
from raysweep.orchestrator._storage._log import EventLog, replay
directory = tempfile.mkdtemp()
log, _, _ = EventLog.open(directory, create=True)
with log:
    log.append("a", 1, {"x": 1})
    log.snapshot()
    log.append("b", None, {})
replay(directory)
print("pandas" in sys.modules)
"""


def test_writing_and_reading_a_log_imports_no_pandas() -> None:
    pytest.importorskip("pandas")  # pyarrow imports it on its first array built from Python
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_PANDAS], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"


def _study() -> Event:
    payload = {
        "name": "s",
        "directions": ["minimize"],
        "seed": 1,
        "seed_source": "given",
        "sampler": RandomSampler(seed=1).to_json(),
        "scheduler": ASHA(max_resource=9).to_json(),
    }
    return Event(0, 0.0, "study_created", None, payload)


def test_a_distribution_seen_before_is_shared_and_one_that_differs_in_type_is_validated() -> None:
    good = IntDistribution(low=1, high=5).to_json()
    state = StudyState()
    state.apply(_study())
    state.apply(Event(1, 1.0, "trial_created", 0, {"origin": "ask"}))
    state.apply(Event(2, 1.0, "trial_created", 1, {"origin": "ask"}))
    for seq, trial in ((3, 0), (4, 1)):
        state.apply(
            Event(seq, 1.0, "param", trial, {"name": "n", "distribution": good, "value": 2})
        )
    assert state.trials[0].distributions["n"] is state.trials[1].distributions["n"]
    # 1 == 1.0 == True, but an int distribution takes only the first.
    for low in (1.0, True):
        bad = {"name": "m", "distribution": {**good, "low": low}, "value": 2}
        with pytest.raises(InvalidDistributionError):
            state.apply(Event(5, 1.0, "param", 0, bad))
    assert "m" not in state.trials[0].params


@pytest.mark.parametrize("enabled", [True, False])
def test_a_replay_leaves_the_garbage_collector_as_it_was(tmp_path: Path, enabled: bool) -> None:
    from test_trial_scheduler_core import _open

    _open(tmp_path).close()
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        replay(tmp_path)
        assert gc.isenabled() is enabled
        core = _open(tmp_path, load=True)
        assert gc.isenabled() is enabled
        # What the TrialScheduler replayed lives as long as it does: out of the collector's
        # walks (frozen) until it closes.
        assert (gc.get_freeze_count() > 0) is enabled
        core.close()
        assert gc.get_freeze_count() == 0
    finally:
        gc.unfreeze()
        (gc.enable if was else gc.disable)()


def test_stored_json_is_written_back_as_stored(tmp_path: Path) -> None:
    # A snapshot writes the payload text it read, not a re-encoding of it.
    text = '{"b": 1,  "a":[ 2 ]}'
    (tmp_path / "segments").mkdir(parents=True)
    with ipc.new_stream(tmp_path / "segments" / f"seg-{0:020d}.arrows", SCHEMA) as writer:
        writer.write_batch(batch_from_records([Record(0, 1.0, "k", None, text)]))
    log, _, _ = EventLog.open(tmp_path, create=False)
    with log:
        snapshot = log.snapshot()
    assert snapshot is not None
    with ipc.open_file(snapshot.read_bytes()) as reader:
        assert reader.get_batch(0).column("payload").to_pylist() == [text]
    assert json.loads(text) == replay(tmp_path)[0][0].payload
