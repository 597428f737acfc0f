"""The ledger's per-job key layout on both stores, in-process (real SQLite file, real etcd over mutual TLS):
the document stays small, totals always equal the admitted keys, release happens once when a delete and a
completion race from two service instances (two servers), and a ledger of the earlier layout is converted."""

import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from platform_services.errors import ApiError
from platform_services.jobs import states
from platform_services.jobs.keys import active_key, job_key
from platform_services.jobs.service import JobService, public_view, set_state
from platform_services.jobs.spec import TrainJobSpec
from platform_services.quotas import ledger as layout
from platform_services.quotas.model import default_limits, usage
from platform_services.store import Put
from tests.platform_services.conftest import EXAMPLE_TRAINER, ledger_org, submit_in_turn, submit_one


def _spec(name: str, cpu: str = "0.5") -> TrainJobSpec:
    return TrainJobSpec(
        job_name=name, module_name="trainer.task", trainer_uri=str(EXAMPLE_TRAINER), cpu_limit=cpu
    )


def _check_totals(store, org: str) -> dict:
    """The ledger's totals equal the sum of its admitted keys, and `queued` its queue keys; the ledger."""
    ledger = store.get(layout.ledger_key(org)).value
    admitted = {i.key.rsplit("/", 1)[1]: i.value for i in store.list(f"/quota-admitted/{org}/")}
    assert ledger["used"] == usage(admitted)
    assert ledger["queued"] == len(store.list(layout.queue_prefix(org)))
    assert (store.get(layout.queued_marker(org)) is not None) == (ledger["queued"] > 0)
    return ledger


def test_the_ledger_holds_totals_and_each_job_has_its_own_key(open_store):
    store = open_store()
    jobs = JobService(store)
    org = ledger_org(store, train_cpu=10_000)
    submit_one(jobs, org, _spec("first"))
    size_one = len(str(store.get(layout.ledger_key(org)).value))
    names = [f"j-{i:02d}" for i in range(25)]
    answers = [job["state"] for job, _ in submit_in_turn(jobs, org, [_spec(name) for name in names])]
    assert answers == ["pending"] * 19 + ["enqueued"] * 6
    ledger = _check_totals(store, org)
    assert set(ledger) == {"version", "limits", "used", "seq", "queued"}
    assert len(str(ledger)) <= size_one + 8  # a few more digits, never a list of jobs
    assert [i.value["job_name"] for i in store.list(layout.queue_prefix(org))] == names[19:]
    assert "queue_key" in jobs.get(org, names[20]) and "queue_key" not in public_view(
        jobs.get(org, names[20])
    )
    jobs.mark_deleting(org, names[20])  # enqueued: leaves the queue at once
    assert [i.value["job_name"] for i in store.list(layout.queue_prefix(org))] == names[19:20] + names[21:]
    for name in ["first", *names[:19]]:
        jobs.transition(org, name, lambda j: set_state(j, states.COMPLETED, "done"))
    ledger = _check_totals(store, org)
    assert ledger["queued"] == 0 and ledger["used"]["train_count"] == 5


def test_release_happens_once_when_delete_and_completion_race(open_store):
    """Two service instances on separate handles (two servers: their in-process locks do not help) delete
    and complete the same jobs at once while releases admit the queue; every job ends deleted, once."""
    first, second = open_store(), open_store()
    a, b = JobService(first), JobService(second)
    org = ledger_org(first, train_count=10)
    names = [f"r-{i:02d}" for i in range(30)]
    submit_in_turn(a, org, [_spec(name) for name in names])

    def complete(name):
        def change(job):
            if job["state"] in (states.PENDING, states.DELETING):
                return set_state(job, states.COMPLETED, "done")
            return job

        try:
            a.transition(org, name, change)
        except ApiError as exc:
            assert exc.status == 404

    def delete(name):
        if b.mark_deleting(org, name) is not None:  # admitted: `deleting`, then dropped as the runner would
            b.transition(org, name, lambda _job: None)

    work = [(complete, n) for n in names] + [(delete, n) for n in names]
    random.Random(7).shuffle(work)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda w: w[0](w[1]), work))
    assert first.list(f"/jobs/{org}/") == [] and first.list(f"/active/{org}/") == []
    ledger = _check_totals(first, org)
    assert ledger["used"] == usage({}) and ledger["queued"] == 0


def _old_job(org: str, name: str, state: str, demand: dict) -> dict:
    """A job document as the earlier release wrote it (no queue_key)."""
    now = time.time()
    return {
        "job_name": name,
        "org_id": org,
        "uid": uuid.uuid4().hex,
        "spec": {"job_name": name},
        "created_at": now,
        "updated_at": now,
        "state": state,
        "pending_reason": "quota train_count: ..." if state == states.ENQUEUED else None,
        "demand": demand,
        "replicas": [],
        "exit_code": None,
        "message": None,
        "client_request_id": None,
        "events": [{"time": now, "type": state, "message": ""}],
    }


def test_a_ledger_of_the_earlier_layout_is_converted_on_first_touch(open_store):
    """An old ledger with 3 admitted jobs and 140 queued (more than one etcd Txn may write): two servers
    touch it at once; the accounting and the order of the queue carry over, and it keeps working."""
    store = open_store()
    org = "org-" + uuid.uuid4().hex[:8]
    demand = {"cpu": 1000, "memory": 2**30, "gpu": 0, "count": 1}
    admitted = [f"a-{i}" for i in range(3)]
    queued = [f"q-{i:03d}" for i in range(140)]
    old = {
        "limits": {**default_limits(), "train_count": 3},
        "admitted": {n: {"category": "train", "demand": demand} for n in admitted},
        "queue": ["gone", *queued],  # a name whose job is gone, as the old layout could leave
    }
    ops = [Put(layout.ledger_key(org), old)]
    for name in admitted:
        ops += [
            Put(job_key(org, name), _old_job(org, name, states.PENDING, demand)),
            Put(active_key(org, name), {}),
        ]
    for name in queued:
        ops += [
            Put(job_key(org, name), _old_job(org, name, states.ENQUEUED, demand)),
            Put(active_key(org, name), {}),
        ]
    for start in range(0, len(ops), 100):
        assert store.commit([], ops[start : start + 100])

    services = [JobService(open_store()), JobService(open_store())]
    with ThreadPoolExecutor(2) as pool:
        views = list(pool.map(lambda s: s.quota(org), services))
    assert views[0] == views[1]
    assert views[0]["train_count_used"] == 3 and views[0]["total_cpu_used"] == 3
    ledger = _check_totals(store, org)
    assert ledger["version"] == layout.VERSION and ledger["queued"] == 140
    assert [i.value["job_name"] for i in store.list(layout.queue_prefix(org))] == queued

    jobs = services[0]
    jobs.mark_deleting(org, queued[1])  # from the middle of the queue
    jobs.transition(org, admitted[0], lambda j: set_state(j, states.COMPLETED, "done"))  # lets the head in
    assert jobs.get(org, queued[0])["state"] == "pending"
    assert jobs.quota(org)["train_count_used"] == 3
    jobs.update_quota(org, {"train_count": -1})
    assert [j["state"] for j in jobs.list(org)].count("pending") == 2 + 139
    assert _check_totals(store, org)["queued"] == 0
