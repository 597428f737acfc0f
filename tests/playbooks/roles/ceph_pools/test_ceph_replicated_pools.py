"""The ceph_replicated_pools module's plan: pools created in one command, drift corrected in a safe order."""

from __future__ import annotations

from tests.playbooks.conftest import load_role_file

pools = load_role_file("ceph_pools", "library/ceph_replicated_pools.py")

WANT = {"name": "rbd", "application": "rbd", "pg_num": 8, "size": 3, "min_size": 2, "autoscale": False}
HAVE = {
    "pool_name": "rbd",
    "size": 3,
    "min_size": 2,
    "pg_autoscale_mode": "off",
    "application_metadata": {"rbd": {}},
}


def test_missing_pools_are_created_in_one_command_each():
    creates, fixes = pools.plan([], [WANT])
    assert creates == [
        ["osd", "pool", "create", "rbd", "8", "8", "replicated", "--size=3", "--autoscale-mode=off"]
    ]
    assert fixes == {}


def test_a_pool_as_wanted_needs_nothing():
    assert pools.plan([HAVE], [WANT]) == ([], {})


def test_drift_is_corrected_and_min_size_never_exceeds_size():
    have = dict(HAVE, size=2, min_size=1, pg_autoscale_mode="on", application_metadata={})
    _, fixes = pools.plan([have], [WANT])
    assert fixes["rbd"] == [
        ["osd", "pool", "set", "rbd", "size", "3"],
        ["osd", "pool", "set", "rbd", "min_size", "2"],
        ["osd", "pool", "set", "rbd", "pg_autoscale_mode", "off"],
        ["osd", "pool", "application", "enable", "rbd", "rbd"],
    ]
    shrink = pools.plan_pool(dict(HAVE, size=3, min_size=3), dict(WANT, size=2, min_size=1))
    assert shrink == [
        ["osd", "pool", "set", "rbd", "min_size", "1"],
        ["osd", "pool", "set", "rbd", "size", "2"],
    ]
