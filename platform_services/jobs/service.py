"""Admission and state changes of train jobs, all as compare-and-swap transactions (the submission half of
JobService, group committed per org, is in jobs/submission.py).

Every change that touches quota commits the org's ledger (quotas/ledger.py: limits and usage totals, with an
admitted or queue key per job) together with the job documents it changes, conditioned on their revisions.
So no interleaving of concurrent submissions (threads or server replicas) can admit past a limit, and a
release happens exactly once: only one transaction can delete the job's admitted key. Each costs the same
whatever the number of jobs the org holds; a drain of the queue reads at most one batch of it.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable

from platform_services.errors import not_found
from platform_services.group_commit import GroupCommit
from platform_services.jobs import states
from platform_services.jobs.keys import active_key, job_key
from platform_services.jobs.ledger_migration import read_ledger
from platform_services.jobs.spec import TrainJobSpec
from platform_services.jobs.states import set_state
from platform_services.jobs.submission import MAX_RETRIES, Submissions, busy, take_submissions
from platform_services.quotas import ledger as layout
from platform_services.quotas import model as quota_model
from platform_services.quotas.ledger import LedgerChange
from platform_services.store import Compare, Delete, Item, Put, Store
from platform_services.store.base import MAX_TXN_OPS, copy_value

__all__ = ["ADMIT_BATCH", "JobService", "job_key", "public_view", "set_state"]

# Queued jobs admitted per transaction. Each costs a compare and three operations (its job, its admitted key,
# its queue key); the change that freed the quota (at most 3 compares and 5 operations), the ledger, the
# queue marker and the new head's reason share the transaction, and a drain reads 2 entries past the batch
# (a job dequeued by this very change, the head that does not fit): 8 + 3 * (36 + 2) + 3 = 125 operations,
# inside the store's limit (etcd: 128 per Txn).
ADMIT_BATCH = (MAX_TXN_OPS - 17) // 3


def public_view(job: dict) -> dict:
    out = {k: v for k, v in job.items() if k not in ("events", "replicas_internal", "queue_key")}
    out.update(job["spec"])
    out.pop("spec")
    return out


class Conflict(Exception):
    """The compare failed; read again and retry."""


class JobService(Submissions):
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

    def _committed(self, change: LedgerChange, compares: list[Compare], ops: list[Put | Delete]) -> bool:
        """Commit `change` with `compares` and `ops`; remember the ledger it wrote, or forget it: conflict."""
        revision = change.commit(self.store, compares, ops)
        if revision:
            self._ledgers[change.org] = Item(change.item.key, change.ledger, revision)
        else:
            self._ledgers.pop(change.org, None)
        return bool(revision)

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
        raise busy()

    def _admit_next_batch(self, org: str) -> bool:
        for _ in range(MAX_RETRIES):
            try:
                return self._try(org, None, lambda _job, _ledger: None)[1]
            except Conflict:
                continue
        raise busy()

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
            set_state(job, states.PENDING, "admitted from the queue")
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
                set_state(job, states.DELETING, "deletion requested")
            return job

        return self.transition(org, name, change)
