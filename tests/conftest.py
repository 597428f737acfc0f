"""Test ordering: fast unit tests first, then the lab tests that build real clusters (minutes). And what
pytest's assertion rewriting leaves alone."""

import pytest

# pytest rewrites every module of a package that registers a pytest plugin, on its first import. schemathesis
# and hypothesis import most of theirs lazily, mid-run (tests/platform_services/api/test_fuzz.py), and the
# parse that rewriting needs then meets CPython 3.11's AST-constructor thread race now and then
# (python/cpython#106905: "AST constructor recursion depth mismatch"). Their own asserts need no rewriting.
NOT_REWRITTEN = ("schemathesis", "hypothesis")


def pytest_configure(config):
    marked = getattr(getattr(config.pluginmanager, "rewrite_hook", None), "_must_rewrite", None)
    if isinstance(marked, set):  # a pytest internal (pytest is pinned); without it nothing changes
        marked.difference_update(NOT_REWRITTEN)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: item.get_closest_marker("lab") is not None)
