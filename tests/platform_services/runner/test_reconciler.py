"""The reconciler's queue drain: a queue whose drain the store cut short is admitted at the leader's next
pass, not at the org's next release.

In-process, on a real SQLite store wrapped by FailingCommits (platform_services/testing/faulty_store.py),
which makes one chosen transaction fail as an unreachable store would; the services are the server's own
(`build_services`), the reconciler a real one that holds the leadership.
"""

import pytest
from cryptography.fernet import Fernet

from platform_services.api.app import build_services
from platform_services.jobs.service import ADMIT_BATCH
from platform_services.jobs.spec import TrainJobSpec
from platform_services.settings import Settings
from platform_services.store.base import StoreUnavailable
from platform_services.store.sqlite import SqliteStore
from platform_services.testing.faulty_store import FailingCommits
from tests.platform_services.conftest import EXAMPLE_TRAINER, submit_one


def test_a_drain_cut_short_is_finished_by_the_next_pass(tmp_path):
    settings = Settings.from_env(
        {}, server_key=Fernet.generate_key().decode(), data_dir=str(tmp_path), runner_enabled=False, gpus=0
    )
    store = FailingCommits(SqliteStore(tmp_path / "db.sqlite"))
    services = build_services(settings, store)
    jobs, reconciler = services.jobs, services.runner
    # Jobs that can never start stay admitted and pending: GPU jobs on a host without GPUs, which the API
    # refuses (the backend's check); this test submits past that check.
    jobs.validate = lambda spec: None
    services.tenancy.create_org("team", {"train_count_quota": 1})
    names = [f"q-{i:03d}" for i in range(2 * ADMIT_BATCH + 5)]
    for name in names:
        # Each asks for a GPU of a host with none, so a pass leaves admitted jobs pending, not started.
        spec = TrainJobSpec(
            job_name=name, module_name="trainer.task", trainer_uri=str(EXAMPLE_TRAINER), gpu_limit=1
        )
        submit_one(jobs, "team", spec)

    def pending():
        return [j["job_name"] for j in jobs.list("team") if j["state"] == "pending"]

    assert pending() == names[:1]
    store.fail_nth_commit(2)  # the raise and the first batch commit together; the second batch fails
    with pytest.raises(StoreUnavailable):
        jobs.update_quota("team", {"train_count": -1})
    assert pending() == names[: 1 + ADMIT_BATCH]
    assert jobs.quota("team")["train_count_used"] == 1 + ADMIT_BATCH  # and the rest waits

    assert reconciler.election.campaign_once()
    reconciler.tick()
    assert pending() == names
    assert jobs.quota("team")["train_count_used"] == len(names)
    for name in (names[ADMIT_BATCH + 1], names[-1]):
        assert [e["type"] for e in jobs.get("team", name)["events"]] == ["enqueued", "pending"]

    # A queue whose head does not fit costs no transaction per pass.
    jobs.update_quota("team", {"train_count": len(names)})
    spec = TrainJobSpec(
        job_name="late", module_name="trainer.task", trainer_uri=str(EXAMPLE_TRAINER), gpu_limit=1
    )
    assert submit_one(jobs, "team", spec)[0]["state"] == "enqueued"
    reconciler.tick()
    commits = store.commits
    reconciler.tick()
    reconciler.tick()
    assert store.commits == commits
    assert jobs.get("team", "late")["state"] == "enqueued"
    reconciler.stop()
    store.close()
