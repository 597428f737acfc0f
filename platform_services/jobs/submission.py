"""Submission of train jobs: one org's submissions group committed, each admitted, queued or refused.

`Submissions` is the submission half of JobService (jobs/service.py, which holds the state changes): it uses
the service's store, per-org locks, remembered ledgers and `_committed`, `_ledger`, `validate`, `on_change`.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from threading import Lock
from typing import TYPE_CHECKING

from platform_services.errors import ApiError, replayed_request
from platform_services.group_commit import GroupCommit, Pending
from platform_services.jobs import states
from platform_services.jobs.keys import active_key, job_key
from platform_services.jobs.spec import TrainJobSpec
from platform_services.quotas.ledger import LedgerChange
from platform_services.store.base import MAX_TXN_OPS, Compare, Delete, Item, Put, Store

if TYPE_CHECKING:
    from collections.abc import Mapping

MAX_RETRIES = 200  # attempts of one change (a batch of submissions, a state change) before answering busy


def busy() -> ApiError:
    return ApiError(503, "Busy", "too many concurrent changes to this org; retry")


class Submission:
    """One submission as its batch commits it: the job's key, its request id's when it carries one, and its
    signature's replay key with that key's lifetime when the commit records the signature (a shared store)."""

    def __init__(self, org: str, spec: TrainJobSpec, signature: tuple[str, int] | None = None):
        self.spec = spec
        self.signature = signature
        self.body = spec.model_dump(exclude={"client_request_id", "reject_if_over_quota"})
        self.key = job_key(org, spec.job_name)
        self.idem_key = f"/idempotency/{org}/{spec.client_request_id}" if spec.client_request_id else None
        self.fingerprint = (
            hashlib.sha256(json.dumps(self.body, sort_keys=True).encode()).hexdigest()
            if self.idem_key
            else ""
        )
        # Its share of the commit: the job, its active key, its admitted or queue key, its request id's key,
        # its signature's key.
        self.ops = 3 + bool(self.idem_key) + bool(signature)


def take_submissions(waiting: list[Pending]) -> int:
    """How many of the waiting submissions the next commit takes: those that fit one transaction beside the
    ledger and the queue marker, and stop before a name or request id already in the batch (the later one is
    decided in the next batch, after the first is committed, exactly as it would be one at a time)."""
    budget, seen = MAX_TXN_OPS - 2, set()
    for count, p in enumerate(waiting):
        s: Submission = p.request
        keys = {s.key, s.idem_key} - {None}
        if s.ops > budget or keys & seen:
            return count
        budget -= s.ops
        seen |= keys
    return len(waiting)


class Submissions:
    """Mixed into JobService: its `submit` and the batch commit behind it."""

    store: Store
    validate: Callable[[TrainJobSpec], None]
    on_change: Callable[[], None]
    _locks: Mapping[str, Lock]
    _ledgers: dict[str, Item]
    _submissions: GroupCommit

    # and, from JobService: _ledger(org) -> Item, _committed(change, compares, ops) -> bool

    # ---- submit ------------------------------------------------------------------------------------------
    async def submit(
        self, org: str, spec: TrainJobSpec, signature: tuple[str, int] | None = None
    ) -> tuple[dict, bool]:
        """(job, created). A retry with the same client_request_id returns the first job, created=False.
        `signature` (its replay key, the key's lifetime): created only with the job, in the same commit, which
        fails the submission with ReplayedRequest when the key exists; any other answer leaves it uncreated.

        Group committed per org (platform_services/group_commit.py): the submissions that arrive while one of
        the org's commits is in flight go together in the next, decided in arrival order on one view of the
        ledger, so under load a submission costs a fraction of a commit."""
        return await self._submissions.run(org, Submission(org, spec, signature))

    def _submit_batch(self, org: str, batch: list[Pending]) -> None:
        """Settle every submission of `batch` (one org's, in arrival order): one commit for all of them when
        nothing conflicts, decided on the ledger this service last committed (a read only when it has none).
        That each name is free is the commit's compare; only a failed commit pays the reads that tell a stale
        ledger, a taken name (answered 409) or a used signature (401), the rest retried. A request carrying a
        client_request_id reads its key first, so a retry is answered with the first job before admission can
        refuse it."""
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
                for p, answer in decided:  # a request id, a name or a signature moved (or the ledger)
                    if not isinstance(answer, ApiError) and (
                        refused := self._signature_used(p.request) or self._taken(p.request)
                    ):
                        p.fail(refused)
                batch = [p for p in batch if not p.done]
        for p in batch:
            p.fail(busy())

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
            if s.signature:
                key, lifetime_s = s.signature
                compares.append(Compare(key, 0))
                ops.append(Put(key, {}, expires_in_s=lifetime_s))
        return compares, ops, decided

    def _valid(self, p: Pending) -> bool:
        try:
            self.validate(p.request.spec)
        except ApiError as exc:
            p.fail(exc)
            return False
        return True

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

    def _signature_used(self, s: Submission) -> ApiError | None:
        if s.signature is None or self.store.get(s.signature[0]) is None:
            return None
        return replayed_request()

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
            states.set_state(job, states.PENDING, "admitted")
        elif spec.reject_if_over_quota:
            raise ApiError(409, "QuotaExceeded", reason)
        else:
            job["queue_key"] = change.enqueue(spec.job_name)
            job["pending_reason"] = reason
            states.set_state(job, states.ENQUEUED, reason)
        return job
