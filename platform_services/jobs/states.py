"""Job states (the seed system's names). Quota is held from `pending` until the job leaves the ledger."""

ENQUEUED = "enqueued"  # waiting for quota; `pending_reason` says which resource and by how much
PENDING = "pending"  # admitted, quota held, waiting for the runner
CREATING = "creating"  # the runner is starting the replicas
RUNNING = "running"
COMPLETED = "completed"
FAILED = "failed"
DELETING = "deleting"

ACTIVE = (ENQUEUED, PENDING, CREATING, RUNNING, DELETING)
TERMINAL = (COMPLETED, FAILED)
