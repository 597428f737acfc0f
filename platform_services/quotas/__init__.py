"""Per-org quotas: category x resource limits, the admission ledger, the user and admin views."""
