"""Ceph managers on the ceph_mgr hosts: each host's ceph-mgr daemon runs and starts at boot (which one is
active is a cluster fact, checked by ceph.mgr_active on the monitors)."""

from __future__ import annotations

import pytest
from testinfra.host import Host

from smoke_tests import facts

pytestmark = pytest.mark.smoke(group="ceph_mgr")


def test_mgr_service_active(host: Host, inventory_hostname: str) -> None:
    unit = f"ceph-mgr@{inventory_hostname}.service"
    state = facts.unit_state(host, unit)
    assert state["ActiveState"] == "active" and state["UnitFileState"] == "enabled", (
        f"manager mgr.{inventory_hostname}: {unit} is {facts.describe_unit(state)}, want active and enabled"
    )
