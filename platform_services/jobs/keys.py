"""Where job documents live in the store (shared by the job service and the ledger migration)."""


def job_key(org: str, name: str) -> str:
    return f"/jobs/{org}/{name}"


def active_key(org: str, name: str) -> str:
    """Present while the job is in an active state: the reconciler lists these, not every job."""
    return f"/active/{org}/{name}"
