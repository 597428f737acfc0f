"""The Pulumi program that stands up a stack (see infra/__main__.py)."""
