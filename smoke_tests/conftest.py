"""Loads the smoke suite's pytest plugin for `pytest smoke_tests --stack NAME`; see smoke_tests/plugin.py."""

pytest_plugins = ["smoke_tests.plugin"]
