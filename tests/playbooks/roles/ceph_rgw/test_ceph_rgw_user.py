"""The ceph_rgw_user module's user quota commands."""

from __future__ import annotations

from tests.playbooks.conftest import load_role_file

rgw_user = load_role_file("ceph_rgw", "library/ceph_rgw_user.py")


def test_user_quota_commands():
    scope = ["--quota-scope=user", "--uid=t"]
    assert rgw_user.quota_commands("t", {"enabled": False, "max_size": -1}, 1024) == [
        ["quota", "set", *scope, "--max-size=1024"],
        ["quota", "enable", *scope],
    ]
    assert rgw_user.quota_commands("t", {"enabled": True, "max_size": 1024}, 1024) == []
    assert rgw_user.quota_commands("t", {"enabled": True, "max_size": 1024}, 0) == [
        ["quota", "disable", *scope]
    ]
    assert rgw_user.quota_commands("t", {"enabled": False, "max_size": -1}, 0) == []
