"""Job states (the seed system's names), and how a job moves between them. Quota is held from `pending` until
the job leaves the ledger."""

import time

MAX_EVENTS = 50  # events kept per job, the latest

ENQUEUED = "enqueued"  # waiting for quota; `pending_reason` says which resource and by how much
PENDING = "pending"  # admitted, quota held, waiting for the runner
CREATING = "creating"  # the runner is starting the replicas
RUNNING = "running"
COMPLETED = "completed"
FAILED = "failed"
DELETING = "deleting"

ACTIVE = (ENQUEUED, PENDING, CREATING, RUNNING, DELETING)
TERMINAL = (COMPLETED, FAILED)


def set_state(job: dict, state: str, message: str) -> dict:
    """Move `job` (a stored job, changed in place) to `state`, with an event saying why; return it."""
    now = time.time()
    job["state"] = state
    job["updated_at"] = now
    job["events"] = [*job.get("events", []), {"time": now, "type": state, "message": message}][-MAX_EVENTS:]
    return job
