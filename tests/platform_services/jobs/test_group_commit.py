"""Group commit of one org's submissions, in-process on both stores (real SQLite file, real etcd over mutual
TLS): submissions that wait behind a commit in flight go in one transaction, each decided in arrival order
exactly as one at a time, each answered on its own; a batch that would pass the store's transaction limit is
split; two services (two servers) batching on one store at once never admit past the quota."""

import asyncio
import threading

import pytest

from platform_services.errors import ApiError
from platform_services.jobs.service import JobService, set_state
from platform_services.jobs.spec import TrainJobSpec
from platform_services.quotas import ledger as layout
from platform_services.store.base import MAX_TXN_OPS
from tests.platform_services.conftest import EXAMPLE_TRAINER, ledger_org, submit_one, until, wait_for


def _spec(name: str, **fields) -> TrainJobSpec:
    return TrainJobSpec(
        job_name=name, module_name="trainer.task", trainer_uri=str(EXAMPLE_TRAINER), cpu_limit="0.5", **fields
    )


class _RecordingStore:
    """The real store; records (jobs written, applied) per commit, and once `hold()` is called keeps the next
    commit waiting until `release` is set (or `until()` holds), so that submissions queue up behind it."""

    def __init__(self, store):
        self.store = store
        self.commits: list[tuple[int, bool]] = []
        self.reads: list[str] = []
        self.release = threading.Event()
        self.held = threading.Event()
        self._hold_next = False
        self.until = None

    def hold(self) -> None:
        self._hold_next = True

    def commit(self, compares, ops):
        assert len(compares) <= MAX_TXN_OPS and len(ops) <= MAX_TXN_OPS, (len(compares), len(ops))
        if self._hold_next:
            self._hold_next = False
            self.held.set()
            assert self.release.wait(60) if self.until is None else wait_for(self.until, timeout=60)
        revision = self.store.commit(compares, ops)
        self.commits.append((sum(1 for op in ops if op.key.startswith("/jobs/")), bool(revision)))
        return revision

    def get(self, key):
        self.reads.append(key)
        return self.store.get(key)

    def __getattr__(self, name):
        return getattr(self.store, name)


def _holdable(store: _RecordingStore) -> JobService:
    """A service whose batches commit in the threadpool on either store, so that a held commit holds its
    thread, not the event loop the other submissions arrive on (SQLite's default is the event loop)."""
    return JobService(store, commit_in_thread=True)


def _batch_behind_a_commit_in_flight(jobs: JobService, store: _RecordingStore, org: str, specs: list):
    """Submits `specs` one after another while another submission's commit is held, so that they wait in
    this order; then lets it go. Each one's answer: the job's state or the ApiError's code."""

    async def race():
        store.hold()
        first = asyncio.create_task(jobs.submit(org, _spec("in-flight")))
        await until(store.held.is_set, timeout=60)
        answers = []
        for count, spec in enumerate(specs, 1):
            answers.append(asyncio.create_task(jobs.submit(org, spec)))
            await until(lambda count=count: jobs._submissions.waiting(org) == count)
        store.release.set()
        assert (await first)[0]["state"] == "pending"
        return await asyncio.gather(*answers, return_exceptions=True)

    return [a.code if isinstance(a, ApiError) else a[0]["state"] for a in asyncio.run(race())]


def _queue(store, org: str) -> list[str]:
    return [i.value["job_name"] for i in store.list(layout.queue_prefix(org))]


def test_a_taken_name_in_a_batch_is_answered_409_and_the_rest_admitted_in_order(open_store):
    raw = open_store()
    org = ledger_org(raw, train_count=4)
    store = _RecordingStore(raw)
    jobs = _holdable(store)
    submit_one(jobs, org, _spec("taken"))
    names = ["a", "taken", "b", "c", "d"]
    answers = _batch_behind_a_commit_in_flight(jobs, store, org, [_spec(n) for n in names])
    assert answers == ["pending", "AlreadyExists", "pending", "enqueued", "enqueued"]
    # the batch failed on the taken name's compare, which was then read; the other four went in one retry
    assert store.commits == [(1, True), (1, True), (5, False), (4, True)]
    assert _queue(store, org) == ["c", "d"]
    assert jobs.quota(org)["train_count_used"] == 4


def test_a_batch_across_the_quota_boundary_admits_what_fits_in_arrival_order(open_store):
    raw = open_store()
    org = ledger_org(raw, train_count=3)
    store = _RecordingStore(raw)
    jobs = _holdable(store)
    specs = [
        _spec("a"),
        _spec("b"),
        _spec("c", reject_if_over_quota=True),
        _spec("d"),
        _spec("e", reject_if_over_quota=True),
        _spec("f", client_request_id="req-f"),
    ]
    answers = _batch_behind_a_commit_in_flight(jobs, store, org, specs)
    assert answers == ["pending", "pending", "QuotaExceeded", "enqueued", "QuotaExceeded", "enqueued"]
    assert store.commits == [(1, True), (4, True)]  # the batch: one transaction
    assert _queue(store, org) == ["d", "f"]
    assert all("train_count" in jobs.get(org, name)["pending_reason"] for name in ("d", "f"))
    again, created = submit_one(jobs, org, _spec("f", client_request_id="req-f"))
    assert not created and again["uid"] == jobs.get(org, "f")["uid"]
    with pytest.raises(ApiError) as exc:
        jobs.get(org, "c")
    assert exc.value.status == 404


def test_a_batch_larger_than_one_transaction_is_split(open_store):
    raw = open_store()
    org = ledger_org(raw)
    store = _RecordingStore(raw)
    jobs = _holdable(store)
    per_txn = (MAX_TXN_OPS - 2) // 3  # 3 operations per job, beside the ledger and the queue marker
    specs = [_spec(f"j-{i:02d}") for i in range(per_txn + 3)]
    specs += [_spec(f"k-{i}", client_request_id=f"req-{i}") for i in range(10)]  # 4 each
    answers = _batch_behind_a_commit_in_flight(jobs, store, org, specs)
    assert answers == ["pending"] * len(specs)
    assert store.commits == [(1, True), (per_txn, True), (13, True)]
    assert jobs.quota(org)["train_count_used"] == len(specs) + 1


def test_two_services_batching_on_one_store_never_over_admit(open_store):
    """Two service instances on separate handles (two servers: each batches its own submissions, and the
    batches race on the ledger's compare): 200 submissions at once, a 10-job quota."""
    org = ledger_org(open_store(), train_count=10)
    stores = [_RecordingStore(open_store()), _RecordingStore(open_store())]
    services = [_holdable(s) for s in stores]
    for store, jobs in zip(stores, services, strict=True):
        store.until = lambda jobs=jobs: jobs._submissions.waiting(org) >= 4  # each starts with a batch
        store.hold()

    async def race():
        return await asyncio.gather(*(services[i % 2].submit(org, _spec(f"c-{i}")) for i in range(200)))

    results = [job["state"] for job, _ in asyncio.run(race())]
    assert results.count("pending") == 10 and results.count("enqueued") == 190
    assert all(max(jobs for jobs, applied in s.commits if applied) > 1 for s in stores)
    assert len(stores[0].list(f"/quota-admitted/{org}/")) == 10
    assert services[1].quota(org)["train_count_used"] == 10
    assert len(_queue(stores[0], org)) == 190


def test_submissions_decide_on_the_ledger_last_committed_and_a_stale_one_costs_a_retry(open_store):
    """A service remembers the ledger it committed: its next submission reads no ledger. Another server's
    change makes that memory stale: the commit's compare catches it and the submission is decided again on
    the stored ledger, so the quota still holds; refusals decided on a remembered ledger are re-decided too
    (the other server may have freed quota)."""
    org = ledger_org(open_store(), train_count=2)
    store = _RecordingStore(open_store())
    mine, other = JobService(store), JobService(open_store())
    submit_one(mine, org, _spec("a"))
    store.reads.clear()
    submit_one(mine, org, _spec("b"))
    assert layout.ledger_key(org) not in store.reads and store.commits[-1] == (1, True)

    submit_one(other, org, _spec("c"))  # queued: the ledger moved under `mine`
    other.transition(org, "a", lambda job: set_state(job, "completed", "done"))  # frees one, admits c
    answer = submit_one(mine, org, _spec("d"))[0]
    assert answer["state"] == "enqueued"  # on the remembered ledger d would have been admitted
    assert store.commits[-2:] == [(1, False), (1, True)]
    assert mine.quota(org)["train_count_used"] == 2

    other.transition(org, "b", lambda job: set_state(job, "completed", "done"))  # frees one, admits d
    other.transition(org, "c", lambda job: set_state(job, "completed", "done"))  # frees one more
    # `mine` remembers a full org: the refusal is decided again on the stored ledger, which has room.
    answer = submit_one(mine, org, _spec("e", reject_if_over_quota=True))[0]
    assert answer["state"] == "pending" and mine.quota(org)["train_count_used"] == 2


def test_batches_commit_on_the_event_loop_for_sqlite_and_in_a_thread_for_etcd(open_store, request):
    store = _RecordingStore(open_store())
    org = ledger_org(store)
    threads = []
    commit = store.commit
    store.commit = lambda compares, ops: threads.append(threading.get_ident()) or commit(compares, ops)
    jobs = JobService(store)

    async def submit_and_name_the_loop_thread():
        await jobs.submit(org, _spec("where"))
        return threading.get_ident()

    loop_thread = asyncio.run(submit_and_name_the_loop_thread())
    assert len(threads) == 1
    assert (threads[0] == loop_thread) == (request.node.callspec.params["open_store"] == "sqlite")
