"""radosgw on the ceph_rgw hosts: the daemon runs and starts at boot, and an S3 round trip through this
gateway (put, get, checksum, delete) works from the machine running the suite, with boto3.

The round trip uses the smoke user the ceph_rgw role creates (its keys are in ceph_rgw_smoke_credentials_file
on the gateway host, root only) and its bucket; the object is deleted again. It is not skipped when the
daemon is down: a client's view of the gateway is what it checks.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from testinfra.host import Host

from smoke_tests import facts
from smoke_tests.inventory import Inventory
from smoke_tests.rolevars import RoleVars

pytestmark = pytest.mark.smoke(group="ceph_rgw", role="ceph_rgw")

OBJECT_BYTES = 1024 * 1024
S3_CONFIG = Config(
    s3={"addressing_style": "path"},
    connect_timeout=5,
    read_timeout=20,
    retries={"max_attempts": 1, "mode": "standard"},
)


def endpoint(inventory: Inventory, host: str, role_vars: RoleVars) -> str:
    variables = inventory.hostvars(host)
    address = variables.get("ceph_address") or variables.get("ansible_host") or host
    return f"http://{address}:{role_vars['ceph_rgw_port']}"


def test_rgw_service_active(host: Host, inventory_hostname: str) -> None:
    unit = f"ceph-radosgw@rgw.{inventory_hostname}.service"
    state = facts.unit_state(host, unit)
    assert state["ActiveState"] == "active" and state["UnitFileState"] == "enabled", (
        f"gateway rgw.{inventory_hostname}: {unit} is {facts.describe_unit(state)}, want active and enabled"
    )


def test_s3_round_trip(
    host: Host, inventory: Inventory, inventory_hostname: str, role_vars: RoleVars
) -> None:
    url = endpoint(inventory, inventory_hostname, role_vars)
    where = f"gateway rgw.{inventory_hostname} ({url})"
    path = role_vars["ceph_rgw_smoke_credentials_file"]
    creds_file = host.file(path)
    assert creds_file.exists, f"{where}: smoke S3 credentials {path} are missing (ceph_rgw role not applied?)"
    creds: dict[str, Any] = json.loads(creds_file.content_string)
    s3 = boto3.client(
        "s3",
        endpoint_url=url,
        region_name=creds["region"],
        config=S3_CONFIG,
        aws_access_key_id=creds["access_key"],
        aws_secret_access_key=creds["secret_key"],
    )
    body = os.urandom(OBJECT_BYTES)
    key = f"smoke/{inventory_hostname}-{time.time_ns()}"
    bucket = creds["bucket"]
    step = "put"
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        step = "get"
        got = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        step = "checksum"
        assert hashlib.sha256(got).hexdigest() == hashlib.sha256(body).hexdigest(), (
            f"{where}: object {bucket}/{key} read back differs ({len(got)} bytes, want {len(body)})"
        )
        step = "delete"
        s3.delete_object(Bucket=bucket, Key=key)
        step = "check the delete"
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=key).get("KeyCount", 0)
        assert listed == 0, f"{where}: object {bucket}/{key} is still listed after delete"
    except (BotoCoreError, ClientError) as exc:
        raise AssertionError(f"{where}: S3 {step} of {bucket}/{key} failed: {exc}") from None
