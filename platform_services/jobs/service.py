"""Submission, admission and state changes of train jobs, all as compare-and-swap transactions.

Every change that touches quota commits the org's ledger (quotas/ledger.py: limits and usage totals, with an
admitted or queue key per job) together with the job documents it changes, conditioned on their revisions.
So no interleaving of concurrent submissions (threads or server replicas) can admit past a limit, and a
release happens exactly once: only one transaction can delete the job's admitted key. Each costs the same
whatever the number of jobs the org holds; a drain of the queue reads at most one batch of it.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable

from platform_services.errors import ApiError, not_found
from platform_services.group_commit import GroupCommit, Pending
from platform_services.jobs import states
from platform_services.jobs.keys import active_key, job_key
from platform_services.jobs.ledger_migration import read_ledger
from platform_services.jobs.spec import TrainJobSpec
from platform_services.jobs.submission import Submission, take_submissions
from platform_services.quotas import ledger as layout
from platform_services.quotas import model as quota_model
from platform_services.quotas.ledger import LedgerChange
from platform_services.store import Compare, Delete, Item, Put, Store
from platform_services.store.base import MAX_TXN_OPS, copy_value

__all__ = ["ADMIT_BATCH", "JobService", "job_key", "public_view", "set_state"]

MAX_EVENTS = 50
MAX_RETRIES = 200
# Queued jobs admitted per transaction. Each costs a compare and three operations (its job, its admitted key,
# its queue key); the change that freed the quota (at most 3 compares and 5 operations), the ledger, the
# queue marker and the new head's reason share the transaction, and a drain reads 2 entries past the batch
# (a job dequeued by this very change, the head that does not fit): 8 + 3 * (36 + 2) + 3 = 125 operations,
# inside the store's limit (etcd: 128 per Txn).
ADMIT_BATCH = (MAX_TXN_OPS - 17) // 3


def _event(job: dict, kind: str, message: str) -> None:
    job["events"] = [*job.get("events", []), {"time": time.time(), "type": kind, "message": message}][
        -MAX_EVENTS:
    ]


def _set_state(job: dict, state: str, message: str) -> None:
    job["state"] = state
    job["updated_at"] = time.time()
    _event(job, state, message)


def public_view(job: dict) -> dict:
    out = {k: v for k, v in job.items() if k not in ("events", "replicas_internal", "queue_key")}
    out.update(job["spec"])
    out.pop("spec")
    return out


def _busy() -> ApiError:
    return ApiError(503, "Busy", "too many concurrent changes to this org; retry")


class Conflict(Exception):
    """The compare failed; read again and retry."""


class JobService:
    """`validate(spec)` raises the ApiError of a submission the backend cannot run (checked as its batch
    commits); `on_change()` is called after each change of jobs; `commit_in_thread` says where submission
    batches commit (default: in the threadpool for a shared store, on the event loop for SQLite)."""

    def __init__(
        self,
        store: Store,
        on_change: Callable[[], None] = lambda: None,
        validate: Callable[[TrainJobSpec], None] = lambda spec: None,
        commit_in_thread: bool | None = None,
    ):
        self.store = store
        self.on_change = on_change
        self.validate = validate
        # Narrows contention among this process's threads; correctness comes from the store's compares.
        self._locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
        # By default a batch commits on the event loop on the embedded SQLite file (group_commit.py says why),
        # and the backend's check runs there too: for the local backend, a stat of a path on this host.
        in_thread = store.shared if commit_in_thread is None else commit_in_thread
        self._submissions = GroupCommit(self._submit_batch, take_submissions, in_thread=in_thread)
        # Each org's ledger as this service last committed it. Submissions start from it instead of reading
        # the store (a round trip on etcd); the commit's compare on the ledger catches a stale one.
        self._ledgers: dict[str, Item] = {}

    # ---- reads -------------------------------------------------------------------------------------------
    def get(self, org: str, name: str) -> dict:
        item = self.store.get(job_key(org, name))
        if item is None:
            raise not_found("train job", name)
        return item.value

    def list(self, org: str | None) -> list[dict]:
        return [i.value for i in self.store.list(f"/jobs/{org}/" if org else "/jobs/")]

    def active(self) -> list[tuple[str, str]]:
        return [tuple(i.key.split("/")[2:4]) for i in self.store.list("/active/")]

    def _ledger(self, org: str) -> Item:
        item = read_ledger(self.store, org)
        if item is None:
            raise not_found("org", org)
        return item

    def quota(self, org: str) -> dict:
        ledger = self._ledger(org).value
        return quota_model.view(ledger["limits"], ledger["used"])

    def update_quota(self, org: str, limits: dict[str, int]) -> dict:
        self._with_ledger(org, None, lambda _job, ledger: ledger["limits"].update(limits))
        return self.quota(org)

    # ---- submit ------------------------------------------------------------------------------------------
    async def submit(self, org: str, spec: TrainJobSpec) -> tuple[dict, bool]:
        """(job, created). A retry with the same client_request_id returns the first job, created=False.

        Group committed per org (platform_services/group_commit.py): the submissions that arrive while one of
        the org's commits is in flight go together in the next, decided in arrival order on one view of the
        ledger, so under load a submission costs a fraction of a commit."""
        return await self._submissions.run(org, Submission(org, spec))

    def _submit_batch(self, org: str, batch: list[Pending]) -> None:
        """Settle every submission of `batch` (one org's, in arrival order): one commit for all of them when
        nothing conflicts, decided on the ledger this service last committed (a read only when it has none).
        That each name is free is the commit's compare; only a failed commit pays the reads that tell a stale
        ledger or a taken name (answered 409, the rest retried). A request carrying a client_request_id reads
        its key first, so a retry is answered with the first job before admission can refuse it."""
        batch = [p for p in batch if self._valid(p)]
        with self._locks[org]:
            ledger, remembered = self._ledgers.get(org), True
            for _ in range(MAX_RETRIES):
                batch = [p for p in batch if not self._replayed(org, p)]
                if not batch:
                    return
                if ledger is None:
                    ledger, remembered = self._ledger(org), False
                change = LedgerChange(org, ledger)
                compares, ops, decided = self._decide(org, batch, change)
                if not ops and remembered:  # refusals decided on a remembered ledger: decide again on the
                    ledger = None  # stored one (another server may have freed quota meanwhile)
                    continue
                if not ops or self._committed(change, compares, ops):
                    for p, answer in decided:
                        if isinstance(answer, ApiError):
                            p.fail(answer)
                        else:
                            p.succeed((answer, True))
                    if ops:
                        self.on_change()
                    return
                ledger = self._ledger(org)
                if remembered and ledger.mod_revision != change.item.mod_revision:
                    remembered = False
                    continue  # the remembered ledger was stale: decide again on the stored one
                remembered = False
                for p, answer in decided:  # a request id or a name moved (or the ledger): answer taken names
                    if not isinstance(answer, ApiError) and (taken := self._taken(p.request)):
                        p.fail(taken)
                batch = [p for p in batch if not p.done]
        for p in batch:
            p.fail(_busy())

    def _decide(
        self, org: str, batch: list[Pending], change: LedgerChange
    ) -> tuple[list[Compare], list[Put | Delete], list[tuple[Pending, dict | ApiError]]]:
        """Each submission of `batch` in order, admitted or queued in `change` or refused: the compares and
        operations that create the new jobs, and each submission's answer."""
        compares: list[Compare] = []
        ops: list[Put | Delete] = []
        decided: list[tuple[Pending, dict | ApiError]] = []
        for p in batch:
            s: Submission = p.request
            try:
                job = self._admit_new(org, s.spec, s.body, change)
            except ApiError as exc:  # over quota; but a taken name is the answer that does not change
                decided.append((p, self._taken(s) or exc))
                continue
            decided.append((p, job))
            compares.append(Compare(s.key, 0))
            ops += [Put(s.key, job), Put(active_key(org, s.spec.job_name), {})]
            if s.idem_key:
                compares.append(Compare(s.idem_key, 0))
                record = {"job_name": s.spec.job_name, "uid": job["uid"], "fingerprint": s.fingerprint}
                ops.append(Put(s.idem_key, {**record, "time": time.time()}))
        return compares, ops, decided

    def _valid(self, p: Pending) -> bool:
        try:
            self.validate(p.request.spec)
        except ApiError as exc:
            p.fail(exc)
            return False
        return True

    def _committed(self, change: LedgerChange, compares: list[Compare], ops: list[Put | Delete]) -> bool:
        """Commit `change` with `compares` and `ops`; remember the ledger it wrote, or forget it: conflict."""
        revision = change.commit(self.store, compares, ops)
        if revision:
            self._ledgers[change.org] = Item(change.item.key, change.ledger, revision)
        else:
            self._ledgers.pop(change.org, None)
        return bool(revision)

    def _replayed(self, org: str, p: Pending) -> bool:
        """Settle `p` when its client_request_id was seen: the first job, or why it cannot be replayed."""
        s: Submission = p.request
        if s.idem_key is None or (seen := self.store.get(s.idem_key)) is None:
            return False
        try:
            p.succeed((self._replay(org, seen.value, s.fingerprint), False))
        except ApiError as exc:
            p.fail(exc)
        return True

    def _taken(self, s: Submission) -> ApiError | None:
        if self.store.get(s.key) is None:
            return None
        return ApiError(409, "AlreadyExists", f"train job {s.spec.job_name!r} already exists", "job_name")

    def _replay(self, org: str, seen: dict, fingerprint: str) -> dict:
        if seen["fingerprint"] != fingerprint:
            raise ApiError(
                409,
                "IdempotencyMismatch",
                "client_request_id was used for a different request",
                "client_request_id",
            )
        item = self.store.get(job_key(org, seen["job_name"]))
        if item is None or item.value["uid"] != seen["uid"]:
            raise ApiError(
                409,
                "IdempotencyExpired",
                "the job of this client_request_id was deleted",
                "client_request_id",
            )
        return item.value

    def _admit_new(self, org: str, spec: TrainJobSpec, body: dict, change: LedgerChange) -> dict:
        """The new job, admitted or queued in `change`."""
        demand = spec.demand()
        now = time.time()
        job = {
            "job_name": spec.job_name,
            "org_id": org,
            "uid": uuid.uuid4().hex,
            "spec": body,
            "created_at": now,
            "updated_at": now,
            "state": None,
            "pending_reason": None,
            "demand": demand,
            "replicas": [],
            "exit_code": None,
            "message": None,
            "client_request_id": spec.client_request_id,
            "events": [],
        }
        reason = change.shortfall("train", demand)
        if reason is None and change.ledger["queued"]:
            reason = f"waiting behind {change.ledger['queued']} earlier enqueued job(s) of this org"
        if reason is None:
            change.admit(spec.job_name, "train", demand)
            _set_state(job, states.PENDING, "admitted")
        elif spec.reject_if_over_quota:
            raise ApiError(409, "QuotaExceeded", reason)
        else:
            job["queue_key"] = change.enqueue(spec.job_name)
            job["pending_reason"] = reason
            _set_state(job, states.ENQUEUED, reason)
        return job

    # ---- state changes -----------------------------------------------------------------------------------
    def transition(self, org: str, name: str, change: Callable[[dict], dict | None]) -> dict | None:
        """Apply `change(job) -> job | None (delete)` in one transaction. A job that leaves the active states
        (or is deleted) releases its quota and lets the head of the queue in. Returns the new job."""
        return self._with_ledger(org, name, lambda job, ledger: change(job))

    def _with_ledger(self, org: str, name: str | None, change) -> dict | None:
        with self._locks[org]:
            for _ in range(MAX_RETRIES):
                try:
                    result, more = self._try(org, name, change)
                except Conflict:
                    continue
                while more:  # the rest of a long queue, a batch per transaction, head first
                    more = self._admit_next_batch(org)
                self.on_change()
                return result
        raise _busy()

    def _admit_next_batch(self, org: str) -> bool:
        for _ in range(MAX_RETRIES):
            try:
                return self._try(org, None, lambda _job, _ledger: None)[1]
            except Conflict:
                continue
        raise _busy()

    def _try(self, org: str, name: str | None, change) -> tuple[dict | None, bool]:
        """(the changed job, whether more of the queue may fit than this transaction admitted)."""
        ledger = LedgerChange(org, self._ledger(org))
        compares: list[Compare] = []
        ops: list[Put | Delete] = []
        new = None
        if name is not None:
            item = self.store.get(job_key(org, name))
            if item is None:
                raise not_found("train job", name)
            compares.append(Compare(item.key, item.mod_revision))
            new = change(copy_value(item.value), ledger.ledger)
            if item.value["state"] in states.ACTIVE and (new is None or new["state"] not in states.ACTIVE):
                self._release(ledger, item.value)
            if new is None:
                ops += [Delete(item.key), Delete(active_key(org, name))]
            else:
                ops.append(Put(item.key, new))
                if new["state"] not in states.ACTIVE:
                    ops.append(Delete(active_key(org, name)))
        else:
            change(None, ledger.ledger)
        more = self._drain_queue(org, ledger, compares, ops, skip=name)
        if name is None and not ops and not ledger.changed():
            return None, more  # nothing to write (a drain whose head still does not fit)
        if not self._committed(ledger, compares, ops):
            raise Conflict
        return new, more

    def _release(self, ledger: LedgerChange, job: dict) -> None:
        if job.get("queue_key"):
            ledger.dequeue(job["queue_key"])
        else:
            ledger.release(self.store, job["job_name"])

    def _drain_queue(
        self, org: str, ledger: LedgerChange, compares: list[Compare], ops: list, skip: str | None
    ) -> bool:
        """Admit queued jobs in order while the head fits, at most ADMIT_BATCH (then answer True: more may
        fit); refresh the head's pending_reason when it does not fit. Reads at most the batch's queue keys.
        `skip` is the job this transaction changes itself: reaching it ends the batch (the next one admits
        it from what this one commits)."""
        if not ledger.ledger["queued"]:
            return False
        limit = ADMIT_BATCH + 2
        entries = self.store.list(layout.queue_prefix(org), limit=limit)
        admitted = 0
        for entry in entries:
            if entry.key in ledger.dequeued:
                continue  # the job this change deletes
            if admitted == ADMIT_BATCH or entry.value["job_name"] == skip:
                return True
            item = self.store.get(job_key(org, entry.value["job_name"]))
            if item is None or item.value.get("queue_key") != entry.key:
                ledger.dequeue(entry.key)  # not that job any more (cannot happen but by hand): drop it
                continue
            job = copy_value(item.value)
            reason = ledger.shortfall("train", job["demand"])
            if reason is not None:
                if job["pending_reason"] != reason:
                    job["pending_reason"] = reason
                    compares.append(Compare(item.key, item.mod_revision))
                    ops.append(Put(item.key, job))
                return False
            ledger.dequeue(entry.key)
            ledger.admit(job["job_name"], "train", job["demand"])
            del job["queue_key"]
            job["pending_reason"] = None
            _set_state(job, states.PENDING, "admitted from the queue")
            compares.append(Compare(item.key, item.mod_revision))
            ops.append(Put(item.key, job))
            admitted += 1
        return len(entries) == limit

    def drain_waiting(self, seen: dict[str, int]) -> None:
        """Admit what fits from every org's queue (the leader calls this on each pass): the safety net for a
        drain cut short, say by the store failing between two batches. `seen` maps org -> the ledger revision
        at which its queue head did not fit; such an org is skipped until its ledger changes, so a pass costs
        one list and a read per org with waiting jobs."""
        orgs = [
            item.key.removeprefix(layout.QUEUED_MARKERS) for item in self.store.list(layout.QUEUED_MARKERS)
        ]
        for org in set(seen) - set(orgs):
            del seen[org]
        for org in orgs:
            item = self.store.get(layout.ledger_key(org))
            if item is None or seen.get(org) == item.mod_revision:
                continue
            with self._locks[org]:
                more = True
                while more:
                    more = self._admit_next_batch(org)
            after = self.store.get(layout.ledger_key(org))
            if after is not None and after.mod_revision == item.mod_revision:
                seen[org] = item.mod_revision  # nothing fitted: wait for a change
            else:
                self.on_change()

    # ---- deletion ----------------------------------------------------------------------------------------
    def mark_deleting(self, org: str, name: str) -> dict | None:
        """Enqueued and finished jobs go at once (None); admitted ones become `deleting` for the runner."""

        def change(job: dict) -> dict | None:
            if job["state"] in (states.ENQUEUED, *states.TERMINAL):
                return None
            if job["state"] != states.DELETING:
                _set_state(job, states.DELETING, "deletion requested")
            return job

        return self.transition(org, name, change)


def set_state(job: dict, state: str, message: str) -> dict:
    _set_state(job, state, message)
    return job
