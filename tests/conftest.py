"""Test ordering: fast unit tests first, then the lab tests that build real clusters (minutes)."""

import pytest


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: item.get_closest_marker("lab") is not None)
