"""Checkpoints of paused trials: durable once saved, and never code to run when loaded."""

from __future__ import annotations

import collections
import io
import json
import math
import os
import pickle
import re
import subprocess
import sys
import threading
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.fs as pafs
import pytest

from raysweep.orchestrator import ObjectiveUsageError, StorageError, Trial, create_study
from raysweep.orchestrator._core import _events as ev
from raysweep.orchestrator._core import _trial_scheduler as ts
from raysweep.orchestrator._core._protocol import Assignment, ReportNote, TrialOutcome
from raysweep.orchestrator._core._sampler_service import LocalSamplerClient, SamplerServiceCore
from raysweep.orchestrator._core._state import StudyInfo
from raysweep.orchestrator._ray._links import RunnerLink
from raysweep.orchestrator._storage import _checkpoints, _safe_checkpoint
from raysweep.orchestrator._storage._log import read_events
from raysweep.orchestrator._storage._store import LocalStudyStore
from raysweep.samplers import FloatDistribution, RandomSampler, StudyDirection, TrialState
from raysweep.scheduling import ASHA, Action


def test_a_local_checkpoint_and_its_directories_are_synced_before_save_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []  # inodes, in the order they were synced
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.fstat(fd).st_ino)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    root = tmp_path / "checkpoints"
    location = _checkpoints.save(str(root), 3, 9, {"w": 1})
    final = Path(location)
    assert final.is_file()
    # The rename keeps the inode: the file was synced (under its temporary name, before the
    # rename), then the directory holding the new name, then the one holding the new folder.
    file, directory, parent = (p.stat().st_ino for p in (final, final.parent, root))
    assert file in synced
    assert directory in synced
    assert synced.index(file) < synced.index(directory)
    assert parent in synced


class _RecordingStore:
    """An object store (pyarrow's in-memory mock) that records what is done to it."""

    def __init__(self, *, fail_close: bool = False) -> None:
        self.fs = pafs._MockFileSystem()
        self.calls: list[tuple[str, str]] = []
        self.fail_close = fail_close

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.fs, name)

        def recorded(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, str(args[0]) if args else ""))
            result = method(*args, **kwargs)
            if name == "open_output_stream" and self.fail_close:
                return _FailingClose(result)
            return result

        return recorded


class _FailingClose:
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __enter__(self) -> _FailingClose:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, data: bytes) -> int:
        return int(self._stream.write(data))

    def close(self) -> None:
        self._stream.close()
        raise OSError("upload failed: the part was not accepted")


def test_an_object_store_checkpoint_is_one_put_of_its_final_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = _RecordingStore()
    monkeypatch.setattr(
        _checkpoints, "_filesystem", lambda location: (store, location.split("://", 1)[1])
    )
    location = _checkpoints.save("s3://bucket/study/checkpoints", 3, 9, {"w": 1})
    assert location.startswith("s3://bucket/study/checkpoints/trial-3/step-9.")
    written = [path for name, path in store.calls if name == "open_output_stream"]
    # Written once, straight to its final key: S3 has no atomic rename, and a PUT is atomic.
    assert written == [location.split("://", 1)[1]]
    assert not [name for name, _ in store.calls if name in ("move", "copy_file")]
    with store.fs.open_input_stream(written[0]) as source:
        assert _safe_checkpoint.decode(source.read()) == {"w": 1}


def test_a_failed_upload_is_an_error_from_save(monkeypatch: pytest.MonkeyPatch) -> None:
    store = _RecordingStore(fail_close=True)
    monkeypatch.setattr(
        _checkpoints, "_filesystem", lambda location: (store, location.split("://", 1)[1])
    )
    with pytest.raises(OSError, match="upload failed"):
        _checkpoints.save("s3://bucket/study/checkpoints", 3, 9, {"w": 1})


# ----- what loading and removing may touch -------------------------------------------------------

X = FloatDistribution(low=0.0, high=1.0)
PROMOTE = ASHA(min_resource=1, max_resource=9, reduction_factor=3, mode="promote")


def _core(directory: Path, *, load: bool) -> ts.TrialSchedulerCore:
    info = StudyInfo(
        name="ckpt",
        directions=(StudyDirection.MAXIMIZE,),
        seed=3,
        seed_source="create_study",
        sampler=RandomSampler(seed=3).to_json(),
        scheduler=PROMOTE.to_json(),
    )
    core = ts.TrialSchedulerCore(
        LocalStudyStore(directory), info, load_if_exists=load, given=frozenset({"seed"})
    )
    core.open()
    service = SamplerServiceCore(RandomSampler(seed=3), 3, (StudyDirection.MAXIMIZE,))
    core.attach_sampler(LocalSamplerClient(service))
    return core


def _code_running_pickle(marker: Path) -> bytes:
    """A pickle that, when loaded, creates `marker`: what anyone who can write the study
    directory could plant for every runner to run."""

    class _Plant:
        def __reduce__(self) -> tuple[Any, tuple[str]]:
            return os.mkdir, (str(marker),)

    return pickle.dumps(_Plant())


def _paused_then_reopened(study: Path, named: str) -> tuple[ts.TrialSchedulerCore, Assignment]:
    """Trial 0 paused at step 1 with a `trial_paused` naming `named` as its checkpoint; the
    study reopened from its log, and the trial handed out again to resume from it."""
    core = _core(study, load=False)
    core.start_optimize(1)
    first = core.next_trial("r1", None)
    assert first is not None
    decision = core.report(first.number, first.attempt, (ReportNote(1, 0.5),))
    assert decision is not None and decision.action is Action.PAUSE
    paused = TrialOutcome(
        first.number, first.attempt, TrialState.PAUSED, paused_at=1, checkpoint=named
    )
    assert core.next_trial("r1", paused, take=False) is None
    core.close()
    events = read_events(study)
    assert [e.payload["checkpoint"] for e in events if e.kind == ev.EventKind.TRIAL_PAUSED] == [
        named
    ]
    core = _core(study, load=True)
    core.start_optimize(1)
    again = core.next_trial("r1", None)
    assert again is not None and again.number == 0 and again.resume is not None
    return core, again


def _load_in_runner(assignment: Assignment) -> Any:
    trial = Trial(assignment, RunnerLink(None, assignment, threading.Event()))  # type: ignore[arg-type]
    return trial.checkpoint()


def test_a_checkpoint_path_in_the_log_is_never_opened(tmp_path: Path) -> None:
    victim, marker = tmp_path / "some" / "other" / "file", tmp_path / "ran"
    victim.parent.mkdir(parents=True)
    victim.write_bytes(_code_running_pickle(marker))
    core, again = _paused_then_reopened(tmp_path / "study", str(victim))
    # The checkpoint lives where trial and step say, not where the log says: none is there.
    refused: Exception | None = None
    try:
        _load_in_runner(again)
    except StorageError as exc:
        refused = exc
    assert not marker.exists()  # the planted pickle did not run
    assert refused is not None
    assert re.search(r"trial 0 at step 1 .*trial-0/step-1\.npz", str(refused))
    core.close()


def test_a_checkpoint_path_in_the_log_is_never_deleted(tmp_path: Path) -> None:
    victim = tmp_path / "some" / "other" / "file"
    victim.parent.mkdir(parents=True)
    victim.write_text("not yours to delete")
    core, again = _paused_then_reopened(tmp_path / "study", str(victim))
    done = TrialOutcome(again.number, again.attempt, TrialState.COMPLETE, (0.9,))
    assert core.next_trial("r1", done, take=False) is None
    core.close()
    assert victim.read_text() == "not yours to delete"


def test_a_runner_told_safe_refuses_a_pickle_checkpoint(tmp_path: Path) -> None:
    study, marker = tmp_path / "study", tmp_path / "ran"
    planted = study / "checkpoints" / "trial-0" / "step-1.pkl"
    planted.parent.mkdir(parents=True)
    planted.write_bytes(_code_running_pickle(marker))
    core, again = _paused_then_reopened(study, str(planted))
    refused: Exception | None = None
    try:
        _load_in_runner(again)
    except ObjectiveUsageError as exc:
        refused = exc
    assert not marker.exists()  # the planted pickle did not run
    assert refused is not None
    assert re.search(r"step-1\.pkl.*checkpoint_format=\"pickle\"", str(refused))
    core.close()


# ----- the safe format ---------------------------------------------------------------------------


def _same(a: Any, b: Any) -> None:
    """Equal, and of the same types all the way down (a tuple stays a tuple, an int an int)."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for key in a:
            assert type(key) is type(next(k for k in b if k == key))
            _same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b


STATE: dict[str, Any] = {
    "epoch": 3,
    "big": 2**70,
    "loss": 0.25,
    "odd": [math.nan, math.inf, -math.inf, -0.0],
    "flags": (True, False, None),
    "name": "résumé ✓",
    "nested": {"a": [1, [2, (3.5, "x")]], "": {}},
    "weights": np.arange(12, dtype=np.float32).reshape(3, 4),
    "ints": np.array([1, -2], dtype=np.int64),
    "mask": np.array([True, False]),
    "empty": np.zeros((0, 2)),
    "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
    "scalar": np.float64(1.5),
    "count": np.int32(7),
    # A torch optimizer's state_dict: int keys.
    "optimizer": {"state": {0: {"step": 4}, 1: {"step": 4}}, "param_groups": [{"params": [0, 1]}]},
    # Keys that look like the format's own tags are data like any other.
    "__tuple__": {"t": "dict", "ndarray": 0},
}


def test_the_default_format_round_trips_plain_data_and_arrays(tmp_path: Path) -> None:
    root = str(tmp_path / "checkpoints")
    location = _checkpoints.save(root, 3, 9, STATE)
    assert location == f"{root}/trial-3/step-9.npz"
    loaded = _checkpoints.load(root, 3, 9, checkpoint_format="safe")
    _same(STATE, loaded)
    # A pickle-trusting runner reads a safe checkpoint too.
    _same(STATE, _checkpoints.load(root, 3, 9, checkpoint_format="pickle"))


def test_a_safe_checkpoint_is_numpy_data_without_pickles(tmp_path: Path) -> None:
    root = str(tmp_path / "checkpoints")
    location = _checkpoints.save(root, 0, 1, {"w": np.ones(3)})
    with zipfile.ZipFile(location) as archive:
        names = archive.namelist()
    assert all(n.endswith((".npy", ".json")) for n in names), names
    with np.load(location, allow_pickle=False) as loaded:  # numpy reads it, no pickle allowed
        arrays = [loaded[n] for n in loaded.files if n.endswith(".npy") or "." not in n]
    assert any(np.array_equal(a, np.ones(3)) for a in arrays)


@pytest.mark.parametrize(
    ("state", "what"),
    [
        (object(), "object"),
        ({"model": lambda: 0}, "function"),
        ({"gen": (i for i in range(3))}, "generator"),
        ({1.5: "float key"}, "float"),
        ({"a": {True: 1}}, "bool"),
        ({"x": {1, 2}}, "set"),
        ({"x": np.array([object()], dtype=object)}, "object"),
        ({"x": b"bytes"}, "bytes"),
    ],
)
def test_what_the_safe_format_cannot_hold_is_refused_saying_what_to_do(
    tmp_path: Path, state: Any, what: str
) -> None:
    with pytest.raises(ObjectiveUsageError) as info:
        _checkpoints.save(str(tmp_path), 0, 1, state)
    message = str(info.value)
    assert what in message
    assert "trial 0 paused at step 1" in message
    assert 'checkpoint_format="pickle"' in message
    assert not list(tmp_path.rglob("step-*"))


def test_pickle_is_an_explicit_opt_in(tmp_path: Path) -> None:
    root = str(tmp_path / "checkpoints")
    state = {"model": collections.Counter("abca")}  # any picklable object
    location = _checkpoints.save(root, 2, 3, state, checkpoint_format="pickle")
    assert location == f"{root}/trial-2/step-3.pkl"
    assert _checkpoints.load(root, 2, 3, checkpoint_format="pickle") == state


@pytest.mark.parametrize("bad", ["unsafe", "PICKLE ", None, 1])
def test_a_checkpoint_format_must_be_safe_or_pickle(tmp_path: Path, bad: Any) -> None:
    with pytest.raises(ValueError, match=r"checkpoint_format must be \"safe\".*or \"pickle\""):
        _checkpoints.check_format(bad)
    with pytest.raises(ValueError, match=r"checkpoint_format must be"):
        create_study(name="s", storage=tmp_path, checkpoint_format=bad)
    assert not (tmp_path / "s").exists()  # refused before anything was written


def test_a_damaged_safe_checkpoint_is_a_storage_error(tmp_path: Path) -> None:
    root = tmp_path / "checkpoints"
    path = Path(_checkpoints.save(str(root), 0, 1, {"w": np.ones(3)}))
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(StorageError, match=r"trial 0 at step 1.*damaged"):
        _checkpoints.load(str(root), 0, 1, checkpoint_format="safe")


def test_remove_deletes_the_checkpoint_of_trial_and_step_in_either_format(tmp_path: Path) -> None:
    root = str(tmp_path / "checkpoints")
    safe = Path(_checkpoints.save(root, 1, 3, {"a": 1}))
    pickled = Path(_checkpoints.save(root, 1, 3, {"a": 1}, checkpoint_format="pickle"))
    kept = Path(_checkpoints.save(root, 1, 9, {"a": 1}))
    _checkpoints.remove(root, 1, 3)
    assert not safe.exists() and not pickled.exists() and kept.exists()
    _checkpoints.remove(root, 1, 3)  # gone already: fine
    _checkpoints.remove(root, 7, 1)  # never saved: fine


@pytest.mark.parametrize(("trial", "step"), [(-1, 1), (0, -1), (True, 1), ("../x", 1), (0, 1.5)])
def test_a_checkpoint_path_is_made_of_numbers_only(tmp_path: Path, trial: Any, step: Any) -> None:
    with pytest.raises(ValueError, match="must be an int"):
        _checkpoints.remove(str(tmp_path), trial, step)


# ----- torch tensors -----------------------------------------------------------------------------


def test_torch_tensors_round_trip_as_tensors_whatever_their_dtype(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    tensors = {
        "f32": base,
        "bf16": base.to(torch.bfloat16),  # numpy has no bfloat16: stored as raw bytes
        "f8": base.to(torch.float8_e4m3fn),
        "f16": base.half(),
        "i64": torch.tensor([1, -2, 3]),
        "bool": torch.tensor([True, False]),
        "step": torch.tensor(4.0),  # 0-d, as an optimizer's step
        "bf16_scalar": torch.tensor(2.5, dtype=torch.bfloat16),
        "empty": torch.zeros(0, 3, dtype=torch.bfloat16),
        "strided": base.t(),  # not contiguous
        "param": torch.nn.Parameter(base.clone()),  # requires grad
        "complex": torch.tensor([1 + 2j]),
    }
    root = str(tmp_path)
    _checkpoints.save(root, 0, 1, tensors)
    loaded = _checkpoints.load(root, 0, 1)
    assert list(loaded) == list(tensors)
    for key, tensor in tensors.items():
        back = loaded[key]
        assert type(back) is torch.Tensor, key
        assert back.dtype == tensor.dtype and back.shape == tensor.shape, key
        if tensor.numel():  # the same bytes (float8 and complex have no simpler equality)
            as_bytes = [
                t.detach().contiguous().reshape(-1).view(torch.uint8) for t in (back, tensor)
            ]
            assert torch.equal(*as_bytes), key
        assert not back.requires_grad


def test_the_pytorch_examples_checkpoint_loads_into_a_new_model_and_optimizer(
    tmp_path: Path,
) -> None:
    torch = pytest.importorskip("torch")
    nn = torch.nn

    def build(optimizer: str) -> tuple[Any, Any, Any]:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3))
        return model, getattr(torch.optim, optimizer)(model.parameters(), lr=0.01), None

    x, y = torch.randn(32, 8), torch.randint(0, 3, (32,))

    def train(model: Any, opt: Any, generator: Any) -> None:
        order = torch.randperm(32, generator=generator)
        for start in range(0, 32, 8):
            batch = order[start : start + 8]
            opt.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            opt.step()

    for name in ("Adam", "RMSprop", "SGD"):
        model, opt, _ = build(name)
        shuffle = torch.Generator().manual_seed(3)
        torch.manual_seed(1)
        train(model, opt, shuffle)
        # What examples/pytorch_digits.py checkpoints.
        state = {
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "shuffle": shuffle.get_state(),
            "epoch": 1,
            "trained": 1,
        }
        _checkpoints.save(str(tmp_path), 0, 1, state)
        saved = _checkpoints.load(str(tmp_path), 0, 1)
        assert list(saved["optimizer"]["state"]) == list(state["optimizer"]["state"])  # int keys

        resumed, resumed_opt, _ = build(name)
        resumed.load_state_dict(saved["model"])
        resumed_opt.load_state_dict(saved["optimizer"])
        resumed_shuffle = torch.Generator()
        resumed_shuffle.set_state(saved["shuffle"])
        # The resumed run trains exactly as the original goes on training.
        torch.manual_seed(2)
        train(model, opt, shuffle)
        torch.manual_seed(2)
        train(resumed, resumed_opt, resumed_shuffle)
        for a, b in zip(model.state_dict().values(), resumed.state_dict().values(), strict=True):
            assert torch.equal(a, b), name
        _checkpoints.remove(str(tmp_path), 0, 1)


_WITHOUT_TORCH = """
import sys
import numpy as np
from raysweep.orchestrator._storage import _checkpoints
_checkpoints.save(sys.argv[1], 0, 1, {"w": np.ones(2), "epoch": 1})
state = _checkpoints.load(sys.argv[1], 0, 1)
assert state["epoch"] == 1
print("torch" in sys.modules)
"""


def test_saving_and_loading_plain_data_does_not_import_torch(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_TORCH, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "False"


def test_a_planted_object_array_in_a_safe_checkpoint_is_refused_unrun(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    planted = tmp_path / "checkpoints" / "trial-0" / "step-1.npz"
    planted.parent.mkdir(parents=True)

    class _Plant:
        def __reduce__(self) -> tuple[Any, tuple[str]]:
            return os.mkdir, (str(marker),)

    array = io.BytesIO()
    np.save(array, np.array([_Plant()], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(planted, "w") as archive:
        tree = {"format": "raysweep-checkpoint", "version": 1, "tree": {"ndarray": 0}}
        archive.writestr("checkpoint.json", json.dumps(tree))
        archive.writestr("0.npy", array.getvalue())
    with pytest.raises(StorageError, match=r"damaged or not a raysweep checkpoint.*pickle"):
        _checkpoints.load(str(tmp_path / "checkpoints"), 0, 1)
    assert not marker.exists()


@pytest.mark.parametrize(
    "tree",
    [
        {"dict": [[1.5, 0]]},
        {"dict": [[True, 0]]},
        {"tuple": 3},
        {"float": "1e9"},
        {"ndarray": 7},
        {"tensor": 0, "dtype": "os.system", "shape": [1]},
        {"what": 1},
    ],
)
def test_a_tree_raysweep_did_not_write_is_a_storage_error(tmp_path: Path, tree: Any) -> None:
    root = tmp_path / "checkpoints"
    path = root / "trial-0" / "step-1.npz"
    path.parent.mkdir(parents=True)
    array = io.BytesIO()
    np.save(array, np.ones(1, dtype=np.uint8))
    with zipfile.ZipFile(path, "w") as archive:
        header = {"format": "raysweep-checkpoint", "version": 1, "tree": tree}
        archive.writestr("checkpoint.json", json.dumps(header))
        archive.writestr("0.npy", array.getvalue())
    with pytest.raises(StorageError, match="damaged or not a raysweep checkpoint"):
        _checkpoints.load(str(root), 0, 1)
