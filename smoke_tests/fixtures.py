"""Fixtures smoke checks use. The plugin registers this module at pytest_configure, after every installed
plugin, so its `host` takes precedence over pytest-testinfra's (pytest: at the same level, the fixture
registered last wins)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from testinfra.host import Host

from smoke_tests.inventory import Inventory
from smoke_tests.rolevars import RoleVarError, RoleVars
from smoke_tests.state import MARKER, state


@pytest.fixture(scope="module")
def smoke_host(request: pytest.FixtureRequest) -> str:
    """The inventory name of the host under check (parametrized by the plugin)."""
    raise pytest.UsageError(f"{request.module.__name__}: smoke_host is set by the smoke plugin only")


@pytest.fixture(autouse=True)
def _smoke_host_reachable(request: pytest.FixtureRequest, smoke_host: str | None) -> None:
    """Every check is about one host and needs it reachable, even one that reads only variables: no check
    passes on a host that was never contacted. (Pulling smoke_host into every test also makes every check
    declare its group.)"""
    if smoke_host is not None:
        state(request.config).host_pool().get(smoke_host)


@pytest.fixture(scope="module")
def inventory_hostname(smoke_host: str) -> str:
    return smoke_host


@pytest.fixture(scope="module")
def host(request: pytest.FixtureRequest, smoke_host: str) -> Host:
    """testinfra host (Ansible backend) for the host under check; an unreachable host raises
    HostUnreachable here and in any later command."""
    return state(request.config).host_pool().get(smoke_host)


@pytest.fixture(scope="module")
def role_vars(request: pytest.FixtureRequest, smoke_host: str) -> RoleVars:
    """The marker's role variables for this host: role defaults overlaid by inventory variables."""
    marker = request.node.get_closest_marker(MARKER)
    role = marker.kwargs.get("role") if marker else None
    if not role:
        raise RoleVarError(f"{request.module.__name__} reads role_vars but its {MARKER} marker names no role")
    return RoleVars(role, smoke_host, _inventory(request))


@pytest.fixture(scope="session")
def inventory(request: pytest.FixtureRequest) -> Inventory:
    """The whole stack inventory (every host and its variables)."""
    return _inventory(request)


@pytest.fixture
def smoke_note(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Record a fact a passing check wants in the report (e.g. why a service is legitimately idle)."""
    return lambda text: request.node.user_properties.append(("smoke_note", text))


def _inventory(request: pytest.FixtureRequest) -> Inventory:
    loaded = state(request.config).inventory
    if loaded is None:  # collection stops first; kept for a fixture used outside the smoke run
        raise RuntimeError("no inventory: the smoke plugin could not load the stack")
    return loaded
