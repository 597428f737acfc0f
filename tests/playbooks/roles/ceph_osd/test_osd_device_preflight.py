"""ceph_osd's device preflight: which devices an OSD may be created on, and the reason for each refusal."""

from __future__ import annotations

import pytest

from tests.playbooks.conftest import load_role_file

preflight = load_role_file("ceph_osd", "files/osd_device_preflight.py")

FSID = "11111111-2222-3333-4444-555555555555"
GIB = 2**30
EMPTY_DISK = {
    "name": "/dev/sdb",
    "path": "/dev/sdb",
    "kname": "/dev/sdb",
    "type": "disk",
    "size": 100 * GIB,
    "ro": False,
    "fstype": None,
    "pttype": None,
    "mountpoint": None,
}


def classify(info=None, osd_devices=None, holders=(), swaps=(), probe=None, device="/dev/sdb", min_gib=10):
    return preflight.classify(
        device, device, info, osd_devices or {}, FSID, list(holders), list(swaps), min_gib * GIB, probe
    )


def test_an_empty_whole_disk_is_ready():
    assert classify(dict(EMPTY_DISK))["status"] == "ready"


def test_an_osd_of_this_cluster_is_left_alone():
    verdict = classify(
        dict(EMPTY_DISK, fstype="LVM2_member"), {"/dev/sdb": {"osd_id": "4", "cluster_fsid": FSID}}
    )
    assert (verdict["status"], verdict["osd_id"]) == ("osd", "4")


@pytest.mark.parametrize(
    ("info", "extra", "reason"),
    [
        (None, {}, "does not exist or is not a block device"),
        (dict(EMPTY_DISK, type="part"), {}, "is a part, not a whole disk"),
        (dict(EMPTY_DISK, ro=True), {}, "is read-only"),
        (dict(EMPTY_DISK, mountpoint="/srv"), {}, "mounted at /srv"),
        (
            dict(EMPTY_DISK, pttype="gpt", children=[{"path": "/dev/sdb1"}]),
            {},
            "has partitions or volumes: /dev/sdb1; it has a gpt partition table",
        ),
        (dict(EMPTY_DISK, fstype="xfs"), {}, "carries a xfs signature"),
        (dict(EMPTY_DISK), {"probe": {"TYPE": "LVM2_member"}}, "carries a LVM2_member signature"),
        (
            dict(EMPTY_DISK),
            {"probe": {"ERROR": "blkid: Permission denied"}},
            "could not be probed for signatures",
        ),
        (dict(EMPTY_DISK), {"holders": ["dm-3"]}, "is held by dm-3"),
        (dict(EMPTY_DISK), {"swaps": ["/dev/sdb"]}, "is in use as swap"),
        (dict(EMPTY_DISK, size=4 * GIB), {}, "is 4.0 GiB, smaller than the 10 GiB minimum"),
        (
            dict(EMPTY_DISK, fstype="LVM2_member"),
            {"osd_devices": {"/dev/sdb": {"osd_id": "7", "cluster_fsid": "other"}}},
            "holds osd.7 of another cluster (fsid other)",
        ),
    ],
)
def test_a_device_that_is_not_empty_or_usable_is_refused_with_the_reason(info, extra, reason):
    verdict = classify(info, **extra)
    assert verdict["status"] == "refused"
    assert reason in verdict["reason"], verdict["reason"]
    assert verdict["device"] == "/dev/sdb"


def test_a_refusal_for_data_says_how_to_wipe_the_device():
    assert "ceph-volume lvm zap --destroy /dev/sdb" in classify(dict(EMPTY_DISK, fstype="ext4"))["reason"]
