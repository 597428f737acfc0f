"""Orgs and keys: secrets shown once and encrypted at rest, rotation, admin-only operations, isolation."""

import sqlite3

import httpx
import pytest

from platform_services.sdk import AuthError, NotFoundError
from tests.platform_services.conftest import job


def test_secret_shown_once_and_encrypted_at_rest(api_server, tenant_factory):
    tenant = tenant_factory(api_server)
    listed = tenant.admin.list_keys(tenant.org_id)
    assert [k["access_key"] for k in listed] == [tenant.key["access_key"]]
    assert all("secret" not in field for k in listed for field in k)
    rows = sqlite3.connect(api_server.data_dir / "cloudml.db").execute("SELECT value FROM kv").fetchall()
    assert not any(tenant.key["secret_key"] in value for (value,) in rows)
    assert tenant.key["secret_key"] not in api_server.log.read_text()


def test_rotation_invalidates_old_secret(api_server, tenant_factory):
    tenant = tenant_factory(api_server)
    rotated = tenant.admin.rotate_key(tenant.key["access_key"])
    assert rotated["secret_key"] != tenant.key["secret_key"]
    with pytest.raises(AuthError):
        tenant.client.get_org_id()
    assert api_server.client(rotated).get_org_id()["org_id"] == tenant.org_id


def test_admin_operations_need_admin(api_server, tenant_factory):
    tenant = tenant_factory(api_server)
    with pytest.raises(AuthError) as exc:
        tenant.client.create_org("sneaky")
    assert exc.value.status == 403
    with pytest.raises(AuthError):
        tenant.client.update_quota(tenant.org_id, {"train_gpu_quota": 100})


def test_tenant_cannot_see_read_or_delete_another_tenants_job(api_server, tenant_factory):
    a, b = tenant_factory(api_server), tenant_factory(api_server)
    a.client.submit_train_job(job("private"))
    for call in (
        b.client.describe_train_job,
        b.client.delete_train_job,
        b.client.get_train_job_logs,
        b.client.get_train_job_events,
    ):
        with pytest.raises(NotFoundError) as exc:
            call("private")
        assert exc.value.status == 404
    assert b.client.list_train_jobs() == []
    with pytest.raises(NotFoundError):
        b.client.list_train_jobs(org_id=a.org_id)
    with pytest.raises(NotFoundError):
        b.client.get_quota(org_id=a.org_id)
    assert a.client.describe_train_job("private")["state"] == "pending"
    # Admins list across orgs with org_id=-1.
    names = {(j["org_id"], j["job_name"]) for j in a.admin.list_train_jobs(org_id="-1")}
    assert (a.org_id, "private") in names


def test_org_ids_is_who_am_i(api_server, tenant_factory):
    tenant = tenant_factory(api_server)
    me = tenant.client.get_org_id()
    assert me == {"org_id": tenant.org_id, "access_key": tenant.key["access_key"], "role": "user"}
    assert httpx.get(api_server.url + "/cloud_ml/v1/org_ids").status_code == 401
