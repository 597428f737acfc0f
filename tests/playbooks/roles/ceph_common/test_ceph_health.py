"""The ceph_health module's verdict: healthy, or every problem named; accepted warnings count as healthy."""

from __future__ import annotations

from tests.playbooks.conftest import load_role_file

health = load_role_file("ceph_common", "library/ceph_health.py")


def status(**overrides):
    base = {
        "health": {"status": "HEALTH_OK", "checks": {}},
        "quorum_names": ["a"],
        "monmap": {"num_mons": 1},
        "mgrmap": {"available": True},
        "osdmap": {"num_osds": 3, "num_up_osds": 3, "num_in_osds": 3},
        "pgmap": {"num_pgs": 8, "pgs_by_state": [{"state_name": "active+clean", "count": 8}]},
    }
    base.update(overrides)
    return base


def test_a_healthy_cluster_has_no_problems():
    assert health.evaluate(status(), set()) == []


def test_every_problem_is_named():
    sick = status(
        health={
            "status": "HEALTH_WARN",
            "checks": {
                "OSD_DOWN": {"summary": {"message": "1 osds down"}},
                "MON_DISK_LOW": {"summary": {"message": "mon a is low on available space"}},
            },
        },
        quorum_names=[],
        monmap={"num_mons": 1},
        mgrmap={"available": False},
        osdmap={"num_osds": 3, "num_up_osds": 2, "num_in_osds": 3},
        pgmap={"num_pgs": 8, "pgs_by_state": [{"state_name": "active+undersized+degraded", "count": 8}]},
    )
    problems = health.evaluate(sick, {"MON_DISK_LOW"})
    assert problems == [
        "HEALTH_WARN (OSD_DOWN: 1 osds down)",
        "0 of 1 monitors in quorum (none)",
        "no manager is active",
        "OSDs: 2 of 3 up, 3 of 3 in",
        "8 of 8 PGs not active+clean (8 active+undersized+degraded)",
    ]


def test_accepted_warnings_count_as_healthy():
    checks = {"MON_DISK_LOW": {"summary": {"message": "low"}}}
    warn = status(health={"status": "HEALTH_WARN", "checks": checks})
    assert health.evaluate(warn, {"MON_DISK_LOW"}) == []
    assert health.evaluate(warn, set()) == ["HEALTH_WARN (MON_DISK_LOW: low)"]
