"""Example trainer packages (submitted as `trainer_uri`, never imported by the service)."""
