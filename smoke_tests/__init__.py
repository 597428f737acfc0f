"""Smoke suite: host checks per inventory group, run with `platformctl smoke --stack NAME`.

See smoke_tests/README.md.
"""
