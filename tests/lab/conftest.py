"""Fixtures for tests that build real labs (systemd-nspawn nodes); every lab made here is torn down."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator

import pytest

from platformctl.lab import manager, network
from platformctl.lab.config import LabConfig
from platformctl.paths import REPO_ROOT

CHECKOUT_TAG = hashlib.sha1(str(REPO_ROOT).encode()).hexdigest()[:4]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/lab/" in str(item.fspath):
            item.add_marker(pytest.mark.lab)
            if os.geteuid() != 0:
                item.add_marker(pytest.mark.skip(reason="lab tests need root (namespaces, mounts, nspawn)"))


def lab_id(purpose: str) -> str:
    """Deterministic per checkout, so a crashed run's lab is found and removed by the next run."""
    return f"t{CHECKOUT_TAG}-{purpose}"


@pytest.fixture
def make_lab() -> Iterator[Callable[..., manager.UpReport]]:
    made: list[str] = []

    def make(purpose: str, nodes: int = 3) -> manager.UpReport:
        ident = lab_id(purpose)
        if ident not in made:
            manager.down(ident)  # leftovers of an interrupted earlier run
            made.append(ident)
        return manager.up(nodes, ident)

    yield make
    leftovers = [item for ident in made for item in manager.down(ident)]
    assert not leftovers, f"lab teardown left: {leftovers}"


def host_objects(lab: LabConfig) -> list[str]:
    return network.leftovers(lab)


@pytest.fixture(scope="module")
def provisioned_lab(request) -> Iterator[LabConfig]:
    """A 3-node lab converged with site.yml, shared by one test module and torn down after it.

    The module names the lab through its `LAB_PURPOSE`; the `lab` stack resolves to it (PLATFORM_LAB_ID)
    for the module's duration.
    """
    from platformctl import provision

    ident = lab_id(request.module.LAB_PURPOSE)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PLATFORM_LAB_ID", ident)
        manager.down(ident)
        try:
            lab = manager.up(3, ident).lab
            first = provision.run_playbook("lab", "site.yml")
            assert first.ok, f"first converge failed on {first.failed_hosts}; see {first.log_path}"
            yield lab
        finally:
            leftovers = manager.down(ident)
    assert not leftovers, f"lab teardown left: {leftovers}"
