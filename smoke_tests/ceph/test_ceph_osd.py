"""Ceph OSD hosts: as many OSDs as the host is configured for, each daemon running and started at boot.

Whether the cluster counts each OSD up and in is checked on the monitors (ceph.osds_up_and_in); here a stopped
daemon is named on the host that runs it.
"""

from __future__ import annotations

import pytest
from testinfra.host import Host

from smoke_tests import facts
from smoke_tests.rolevars import RoleVars

pytestmark = pytest.mark.smoke(group="ceph_osd", role="ceph_osd")

OSD_ROOT = "/var/lib/ceph/osd"


@pytest.fixture(scope="module")
def osd_ids(host: Host) -> list[int]:
    """Ids of the OSD data directories on this host (file-backed ones, and ceph-volume's once activated)."""
    out = host.run(f"cat {OSD_ROOT}/ceph-*/whoami 2>/dev/null")
    return sorted(int(line) for line in out.stdout.split() if line.strip().isdigit())


def test_osd_count(osd_ids: list[int], role_vars: RoleVars, inventory_hostname: str) -> None:
    want = len(role_vars["ceph_osd_devices"] or []) + int(role_vars["ceph_osd_file_count"])
    have = ", ".join(f"osd.{i}" for i in osd_ids) or "none"
    assert len(osd_ids) >= want, (
        f"{inventory_hostname} has {len(osd_ids)} OSDs ({have}), want {want} "
        f"(ceph_osd_devices + ceph_osd_file_count)"
    )


def test_osd_services_active(host: Host, osd_ids: list[int]) -> None:
    if not osd_ids:
        pytest.skip("no OSD on this host (see ceph.osd_count)")
    bad = []
    for osd in osd_ids:
        state = facts.unit_state(host, f"ceph-osd@{osd}.service")
        if state["ActiveState"] != "active" or state["UnitFileState"] not in ("enabled", "enabled-runtime"):
            bad.append(f"osd.{osd}: ceph-osd@{osd}.service is {facts.describe_unit(state)}")
    assert not bad, "; ".join(bad) + " (want active and enabled)"
