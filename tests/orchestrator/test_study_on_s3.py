"""create_study on s3:// (moto on loopback): what is refused before Ray starts, and studies end
to end on Ray, the endpoint given in the URI or in the environment."""

from __future__ import annotations

import os

import pytest
from s3_helpers import S3Server

from raysweep.orchestrator import DuplicatedStudyError, StorageError, Trial, create_study
from raysweep.orchestrator._storage._log import read_events
from raysweep.samplers import RandomSampler, TrialState
from raysweep.scheduling import ASHA


def _objective(trial: Trial) -> float:
    x = trial.suggest_float("x", -2.0, 2.0)
    for step in range(1, 4):
        trial.report(-((x - 1.0) ** 2) - 1.0 / step, step)
    return -((x - 1.0) ** 2)


def _resumable(trial: Trial) -> float:
    """Lower trial numbers score higher at every step; checkpoints carry the epoch."""
    saved = trial.checkpoint()
    first = 1 if saved is None else saved["epoch"] + 1
    trial.set_user_attr(f"first_epoch_{first}", True)
    value = 0.0
    for epoch in range(first, 10):
        value = 1.0 - 0.01 * trial.number + 0.001 * epoch
        trial.report(value, epoch, checkpoint=lambda e=epoch: {"epoch": e})
    return value


def test_create_study_refuses_what_it_cannot_write_before_starting_ray() -> None:
    with pytest.raises(StorageError, match=r"cannot keep a writer lease on gs://.*s3:// only"):
        create_study(name="x", storage="gs://some-bucket/studies")
    with pytest.raises(StorageError, match="cannot open the storage nosuch://"):
        create_study(name="x", storage="nosuch://bucket/prefix")


def test_a_study_on_s3_optimizes_and_is_reopened(ray_session: str, s3_server: S3Server) -> None:
    # The driver passes its S3 variables on to the study's actors: Ray starts them with the
    # environment Ray itself was started with, which may predate the credentials.
    bucket = s3_server.new_bucket()
    storage = s3_server.uri(bucket, "studies")
    study = create_study(
        name="on-s3", storage=storage, direction="maximize", sampler=RandomSampler(seed=5)
    )
    assert study.directory == s3_server.uri(bucket, "studies/on-s3")
    assert study._actors.runtime_env is not None
    passed = study._actors.runtime_env["env_vars"]
    assert passed["AWS_ACCESS_KEY_ID"] == os.environ["AWS_ACCESS_KEY_ID"]
    study.optimize(_objective, n_trials=4, max_concurrent=2, show_progress=False)
    first = [(t.number, t.state, t.params, t.values) for t in study.trials]
    assert [t[:2] for t in first] == [(n, TrialState.COMPLETE) for n in range(4)]
    study.close()

    with pytest.raises(DuplicatedStudyError):
        create_study(name="on-s3", storage=storage)
    again = create_study(name="on-s3", storage=storage, direction="maximize", load_if_exists=True)
    assert [(t.number, t.state, t.params, t.values) for t in again.trials] == first
    again.optimize(_objective, n_trials=6, max_concurrent=2, show_progress=False)
    assert [t.number for t in again.trials] == list(range(6))
    again.close()

    keys = s3_server.keys(bucket, "studies/on-s3/")
    assert "studies/on-s3/LEASE.json" in keys, keys
    # One snapshot left, of the third writer (the refused create_study held epoch 2), and the
    # state that writer saved at close beside it.
    (snapshot,) = [k for k in keys if "/snapshots/snap-" in k]
    assert snapshot.endswith("-g3.arrow"), keys
    (state,) = [k for k in keys if "/snapshots/state-" in k]
    assert state.endswith("-g3.arrow"), keys
    events = read_events(str(study.directory))
    assert [e.kind for e in events].count("writer_started") == 2
    assert sum(e.kind == "trial_finished" for e in events) == 6


@pytest.mark.slow
def test_promote_mode_on_s3_resumes_from_checkpoints_with_the_endpoint_in_the_environment(
    ray_session: str, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No endpoint in the URI: the driver, its actors and its runners all take it from the
    # environment, which only the driver had when Ray started.
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://{s3_server.endpoint}")
    bucket = s3_server.new_bucket()
    study = create_study(
        name="promote",
        storage=f"s3://{bucket}/studies",
        direction="maximize",
        sampler=RandomSampler(seed=2),
        scheduler=ASHA(min_resource=1, max_resource=9, reduction_factor=3, mode="promote"),
    )
    study.optimize(_resumable, n_trials=9, max_concurrent=2, show_progress=False)
    trials = study.trials
    study.close()
    assert all(t.state is TrialState.COMPLETE for t in trials if t.values is not None)
    resumed = [t for t in trials if any(k != "first_epoch_1" for k in t.user_attrs)]
    assert resumed, "no trial resumed from its checkpoint"
    keys = s3_server.keys(bucket, "studies/promote/checkpoints/")
    assert any(k.endswith(".npz") for k in keys), keys  # the data-only default
