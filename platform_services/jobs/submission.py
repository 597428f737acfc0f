"""One submission as its org's group commit carries it (jobs/service.py decides and commits the batch)."""

from __future__ import annotations

import hashlib
import json

from platform_services.group_commit import Pending
from platform_services.jobs.keys import job_key
from platform_services.jobs.spec import TrainJobSpec
from platform_services.store.base import MAX_TXN_OPS


class Submission:
    """One submission as its batch commits it: the job's key, and its request id's when it carries one."""

    def __init__(self, org: str, spec: TrainJobSpec):
        self.spec = spec
        self.body = spec.model_dump(exclude={"client_request_id", "reject_if_over_quota"})
        self.key = job_key(org, spec.job_name)
        self.idem_key = f"/idempotency/{org}/{spec.client_request_id}" if spec.client_request_id else None
        self.fingerprint = (
            hashlib.sha256(json.dumps(self.body, sort_keys=True).encode()).hexdigest()
            if self.idem_key
            else ""
        )
        # Its share of the commit: the job, its active key, its admitted or queue key, its request id's key.
        self.ops = 4 if self.idem_key else 3


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
