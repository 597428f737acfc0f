"""Submission, admission and state changes of train jobs, all as compare-and-swap transactions.

Every change that touches quota commits the org's ledger (`/ledger/<org>`: limits, admitted demands, FIFO
queue) together with the job documents it changes, conditioned on their revisions. So no interleaving of
concurrent submissions (threads or server replicas) can admit past a limit, and a release happens exactly
once: the transition that removes the job from `admitted` is the only one that can commit.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable

from platform_services.errors import ApiError, not_found
from platform_services.jobs import states
from platform_services.jobs.spec import TrainJobSpec
from platform_services.quotas import model as quota_model
from platform_services.store import Compare, Delete, Item, Put, Store
from platform_services.store.base import MAX_TXN_OPS, cas_item

MAX_EVENTS = 50
MAX_RETRIES = 200
# Queued jobs admitted per transaction: each costs a compare and a put, and the change that freed the quota
# shares the first transaction, so a batch stays well inside the store's limit (etcd: 128 per Txn).
ADMIT_BATCH = MAX_TXN_OPS // 2


def job_key(org: str, name: str) -> str:
    return f"/jobs/{org}/{name}"


def _event(job: dict, kind: str, message: str) -> None:
    job["events"] = [*job.get("events", []), {"time": time.time(), "type": kind, "message": message}][
        -MAX_EVENTS:
    ]


def _set_state(job: dict, state: str, message: str) -> None:
    job["state"] = state
    job["updated_at"] = time.time()
    _event(job, state, message)


def public_view(job: dict) -> dict:
    out = {k: v for k, v in job.items() if k not in ("events", "replicas_internal")}
    out.update(job["spec"])
    out.pop("spec")
    return out


class Conflict(Exception):
    """The compare failed; read again and retry."""


class JobService:
    def __init__(self, store: Store, on_change: Callable[[], None] = lambda: None):
        self.store = store
        self.on_change = on_change
        # Narrows contention among this process's threads; correctness comes from the store's compares.
        self._locks: dict[str, threading.Lock] = defaultdict(threading.Lock)

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

    def quota(self, org: str) -> dict:
        ledger = self.store.get(f"/ledger/{org}")
        if ledger is None:
            raise not_found("org", org)
        return quota_model.view(ledger.value["limits"], quota_model.usage(ledger.value["admitted"]))

    def update_quota(self, org: str, limits: dict[str, int]) -> dict:
        self._with_ledger(org, None, lambda _job, ledger: ledger["limits"].update(limits))
        return self.quota(org)

    # ---- submit ------------------------------------------------------------------------------------------
    def submit(self, org: str, spec: TrainJobSpec) -> tuple[dict, bool]:
        """(job, created). A retry with the same client_request_id returns the first job, created=False.

        One read (the ledger) and one commit per submission when nothing conflicts: that the name is free is
        the commit's compare, and only a failed commit pays the reads that tell a taken name from a moved
        ledger. A request carrying a client_request_id reads its key first, so a retry is answered with the
        first job before admission can refuse it."""
        body = spec.model_dump(exclude={"client_request_id", "reject_if_over_quota"})
        key = job_key(org, spec.job_name)
        idem_key = f"/idempotency/{org}/{spec.client_request_id}" if spec.client_request_id else None
        fingerprint = (
            hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest() if idem_key else ""
        )
        with self._locks[org]:
            for _ in range(MAX_RETRIES):
                if idem_key and (seen := self.store.get(idem_key)):
                    return self._replay(org, seen.value, fingerprint), False
                ledger = self.store.get(f"/ledger/{org}")
                if ledger is None:
                    raise not_found("org", org)
                try:
                    job, new_ledger = self._admit_new(org, spec, body, ledger.value)
                except ApiError:  # over quota; but a taken name is the answer that does not change
                    self._refuse_taken(key, spec.job_name)
                    raise
                compares = [Compare(ledger.key, ledger.mod_revision), Compare(key, 0)]
                ops = [Put(key, job), Put(ledger.key, new_ledger), Put(f"/active/{org}/{spec.job_name}", {})]
                if idem_key:
                    compares.append(Compare(idem_key, 0))
                    ops.append(
                        Put(
                            idem_key,
                            {
                                "job_name": spec.job_name,
                                "uid": job["uid"],
                                "fingerprint": fingerprint,
                                "time": time.time(),
                            },
                        )
                    )
                if self.store.commit(compares, ops):
                    self.on_change()
                    return job, True
                self._refuse_taken(key, spec.job_name)  # else the ledger (or the request id) moved: again
        raise ApiError(503, "Busy", "too many concurrent changes to this org; retry")

    def _refuse_taken(self, key: str, name: str) -> None:
        if self.store.get(key) is not None:
            raise ApiError(409, "AlreadyExists", f"train job {name!r} already exists", "job_name")

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

    def _admit_new(self, org: str, spec: TrainJobSpec, body: dict, ledger: dict) -> tuple[dict, dict]:
        """The new job and the ledger with it admitted or queued; `ledger` (as read from the store, which
        decodes every read afresh) is changed in place: copying it would cost as much as reading it."""
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
        used = quota_model.usage(ledger["admitted"])
        reason = quota_model.shortfall(ledger["limits"], used, "train", demand)
        if reason is None and ledger["queue"]:
            reason = f"waiting behind {len(ledger['queue'])} earlier enqueued job(s) of this org"
        if reason is None:
            ledger["admitted"][spec.job_name] = {"category": "train", "demand": demand}
            _set_state(job, states.PENDING, "admitted")
        elif spec.reject_if_over_quota:
            raise ApiError(409, "QuotaExceeded", reason)
        else:
            ledger["queue"].append(spec.job_name)
            job["pending_reason"] = reason
            _set_state(job, states.ENQUEUED, reason)
        return job, ledger

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
        raise ApiError(503, "Busy", "too many concurrent changes to this org; retry")

    def _admit_next_batch(self, org: str) -> bool:
        for _ in range(MAX_RETRIES):
            try:
                return self._try(org, None, lambda _job, _ledger: None)[1]
            except Conflict:
                continue
        raise ApiError(503, "Busy", "too many concurrent changes to this org; retry")

    def _try(self, org: str, name: str | None, change) -> tuple[dict | None, bool]:
        """(the changed job, whether more of the queue may fit than this transaction admitted)."""
        ledger_item = self.store.get(f"/ledger/{org}")
        if ledger_item is None:
            raise not_found("org", org)
        ledger = json.loads(json.dumps(ledger_item.value))
        compares = [Compare(ledger_item.key, ledger_item.mod_revision)]
        ops: list[Put | Delete] = []
        new = None
        if name is not None:
            item = self.store.get(job_key(org, name))
            if item is None:
                raise not_found("train job", name)
            compares.append(Compare(item.key, item.mod_revision))
            new = change(json.loads(json.dumps(item.value)), ledger)
            if new is None or new["state"] not in states.ACTIVE:
                self._release(ledger, name)
            if new is None:
                ops += [Delete(item.key), Delete(f"/active/{org}/{name}")]
            else:
                ops.append(Put(item.key, new))
                if new["state"] not in states.ACTIVE:
                    ops.append(Delete(f"/active/{org}/{name}"))
        else:
            change(None, ledger)
        admitted, more = self._drain_queue(org, ledger, compares, skip=name)
        ops += admitted
        ops.append(Put(ledger_item.key, ledger))
        if not self.store.commit(compares, ops):
            raise Conflict
        return new, more

    @staticmethod
    def _release(ledger: dict, name: str) -> None:
        ledger["admitted"].pop(name, None)
        if name in ledger["queue"]:
            ledger["queue"].remove(name)

    def _drain_queue(
        self, org: str, ledger: dict, compares: list[Compare], skip: str | None
    ) -> tuple[list[Put], bool]:
        """Admit queued jobs in order while the head fits, at most ADMIT_BATCH (then answer True: more may
        fit); refresh the head's pending_reason when it does not fit."""
        ops = []
        while ledger["queue"]:
            if len(ops) == ADMIT_BATCH:
                return ops, True
            head = ledger["queue"][0]
            item: Item | None = self.store.get(job_key(org, head))
            if item is None or head == skip:
                ledger["queue"].pop(0)
                continue
            job = json.loads(json.dumps(item.value))
            used = quota_model.usage(ledger["admitted"])
            reason = quota_model.shortfall(ledger["limits"], used, "train", job["demand"])
            if reason is not None:
                if job["pending_reason"] != reason:
                    job["pending_reason"] = reason
                    compares.append(cas_item(item, item.key))
                    ops.append(Put(item.key, job))
                break
            ledger["queue"].pop(0)
            ledger["admitted"][head] = {"category": "train", "demand": job["demand"]}
            job["pending_reason"] = None
            _set_state(job, states.PENDING, "admitted from the queue")
            compares.append(cas_item(item, item.key))
            ops.append(Put(item.key, job))
        return ops, False

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
