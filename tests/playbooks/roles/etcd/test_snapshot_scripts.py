"""The snapshot scripts role etcd installs: the receiving side's checks and pruning, local pruning, and the
S3 copy with its retention (botocore's Stubber, no network)."""

from __future__ import annotations

import hashlib
import importlib.util
import io
from pathlib import Path
from types import ModuleType

import boto3
import pytest
from botocore.stub import ANY, Stubber

from platformctl.paths import PLAYBOOKS_DIR

FILES = PLAYBOOKS_DIR / "roles" / "etcd" / "files"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, FILES / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


receive = load("etcd_snapshot_receive")
snapshot = load("etcd_snapshot")

DATA = b"etcd snapshot bytes" * 100
SHA = hashlib.sha256(DATA).hexdigest()


def store(tmp_path: Path, request: str, data: bytes = DATA, keep: int = 3) -> Path:
    return receive.store(tmp_path, "node1", request, io.BytesIO(data), keep)


def test_receiver_stores_a_verified_snapshot_under_its_member(tmp_path):
    final = store(tmp_path, f"store node1-20260101T000000Z.db {SHA}")
    assert final == tmp_path / "node1" / "node1-20260101T000000Z.db"
    assert final.read_bytes() == DATA
    assert not list((tmp_path / "node1").glob(".*.part"))


@pytest.mark.parametrize(
    "request_line, reason",
    [
        (f"store node2-20260101T000000Z.db {SHA}", "not a snapshot name of member node1"),
        (f"store ../node1-20260101T000000Z.db {SHA}", "not a snapshot name"),
        (f"store node1-20260101T000000Z.db.sh {SHA}", "not a snapshot name"),
        ("store node1-20260101T000000Z.db nothex", "is not a sha256"),
        ("rm -rf /", "expected 'store NAME SHA256'"),
        ("", "expected 'store NAME SHA256'"),
    ],
)
def test_receiver_refuses_other_members_names_and_commands(tmp_path, request_line, reason):
    with pytest.raises(receive.Refused, match=reason):
        store(tmp_path, request_line)
    assert not any(tmp_path.rglob("*.db"))


def test_receiver_refuses_a_truncated_transfer_and_keeps_nothing(tmp_path):
    with pytest.raises(receive.Refused, match="truncated"):
        store(tmp_path, f"store node1-20260101T000000Z.db {SHA}", data=DATA[:-10])
    assert list((tmp_path / "node1").iterdir()) == []


def test_receiver_keeps_the_newest_snapshots(tmp_path):
    for hour in range(5):
        store(tmp_path, f"store node1-20260101T0{hour}0000Z.db {SHA}", keep=3)
    kept = sorted(p.name for p in (tmp_path / "node1").glob("*.db"))
    assert kept == [f"node1-20260101T0{h}0000Z.db" for h in (2, 3, 4)]


def test_local_pruning_keeps_the_newest_and_their_sidecars(tmp_path):
    for hour in range(4):
        (tmp_path / f"node1-20260101T0{hour}0000Z.db").write_bytes(b"x")
        (tmp_path / f"node1-20260101T0{hour}0000Z.json").write_text("{}")
    (tmp_path / "node2-20260101T000000Z.db").write_bytes(b"other member")
    removed = snapshot.prune_local(tmp_path, "node1", 2)
    assert removed == ["node1-20260101T000000Z.db", "node1-20260101T010000Z.db"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "node1-20260101T020000Z.db",
        "node1-20260101T020000Z.json",
        "node1-20260101T030000Z.db",
        "node1-20260101T030000Z.json",
        "node2-20260101T000000Z.db",
    ]


def test_s3_copy_uploads_then_deletes_beyond_retention(tmp_path):
    path = tmp_path / "node1-20260101T030000Z.db"
    path.write_bytes(DATA)
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
    config = {"member": "node1", "keep": 2, "s3": {"bucket": "backups", "prefix": "etcd/lab/"}}
    meta = {"sha256": SHA, "status": {"revision": 42}}
    keys = [f"etcd/lab/node1/node1-20260101T0{h}0000Z.db" for h in range(4)]
    with Stubber(client) as stub:
        stub.add_response(
            "put_object",
            {},
            {
                "Bucket": "backups",
                "Key": keys[3],
                "Body": ANY,
                "ChecksumAlgorithm": ANY,
                "Metadata": {"sha256": SHA, "revision": "42"},
            },
        )
        stub.add_response(
            "list_objects_v2",
            {"Contents": [{"Key": k} for k in keys]},
            {"Bucket": "backups", "Prefix": "etcd/lab/node1/"},
        )
        for old in keys[:2]:
            stub.add_response("delete_object", {}, {"Bucket": "backups", "Key": old})
        where = snapshot.copy_to_s3(config, path, meta, client)
        stub.assert_no_pending_responses()
    assert where == f"s3://backups/{keys[3]}"
