"""Quota admission against the real server: atomic under concurrency, FIFO queue, exact release."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography.fernet import Fernet

from platform_services.jobs.service import ADMIT_BATCH
from platform_services.sdk import NotFoundError
from tests.platform_services.conftest import Server, etcd_settings, job


def _used(tenant, name="train_cpu"):
    return tenant.client.get_quota()[0][f"{name}_used"]


def _submit_200_at_a_10_cpu_quota(servers, tenant_factory):
    """200 submissions from 32 threads, spread over `servers`, against a 10-CPU quota: exactly 10 admitted."""
    tenant = tenant_factory(servers[0], {"train_cpu_quota": 10, "total_memory_quota": "64G"})
    clients = [servers[i % len(servers)].client(tenant.key) for i in range(32)]

    def submit(i):
        return clients[i % 32].submit_train_job(job(f"c-{i}", cpu_limit="1", memory_limit="128M"))["state"]

    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(submit, range(200)))
    assert results.count("pending") == 10
    assert results.count("enqueued") == 190
    for server in servers:  # every replica sees the same ledger
        quota = server.client(tenant.key).get_quota()[0]
        assert quota["train_cpu_used"] == 10
        assert quota["train_count_used"] == 10 and quota["total_memory_used"] == 10 * 128 * 2**20
    states = [j["state"] for j in tenant.client.list_train_jobs()]
    assert states.count("pending") == 10


@pytest.mark.parametrize("store", ["sqlite", "etcd"])
def test_200_concurrent_submissions_never_over_admit(store, request, tenant_factory):
    server = request.getfixturevalue("api_server" if store == "sqlite" else "etcd_api_server")
    _submit_200_at_a_10_cpu_quota([server], tenant_factory)


def test_two_servers_sharing_etcd_never_over_admit_together(etcd, tmp_path, tenant_factory):
    """Two server processes on one etcd (same prefix, same server key) take submissions at once."""
    shared = {"server_key": Fernet.generate_key().decode(), **etcd_settings(etcd, "/two-replicas")}
    servers = []
    try:
        for name in ("replica-a", "replica-b"):
            (tmp_path / name).mkdir()
            servers.append(Server(tmp_path / name, runner_enabled="false", **shared))
            servers[-1].start()
        _submit_200_at_a_10_cpu_quota(servers, tenant_factory)
    finally:
        for server in servers:
            server.stop()


def test_enqueued_names_the_shortfall_and_is_admitted_in_order(api_server, tenant_factory):
    tenant = tenant_factory(api_server, {"train_cpu_quota": 3})
    c = tenant.client
    assert c.submit_train_job(job("first", cpu_limit="1", worker_count=1))["state"] == "pending"  # 2 replicas
    big = c.submit_train_job(job("big", cpu_limit="1.5"))
    assert big["state"] == "enqueued"
    assert big["pending_reason"] == "quota train_cpu: needs 1.5 cpu, 1 cpu of 3 cpu free, short by 0.5 cpu"
    small = c.submit_train_job(job("small", cpu_limit="0.5"))
    assert small["state"] == "enqueued"  # fits, but does not overtake the earlier job
    assert "behind 1 earlier" in small["pending_reason"]
    c.delete_train_job("first")
    assert c.describe_train_job("big")["state"] == "pending"
    assert c.describe_train_job("small")["state"] == "pending"
    assert _used(tenant) == 2


def test_release_exactly_once(api_server, tenant_factory):
    tenant = tenant_factory(api_server, {"train_gpu_quota": 0})
    c = tenant.client
    c.submit_train_job(job("a", cpu_limit="1"))
    c.submit_train_job(job("b", cpu_limit="2"))
    assert _used(tenant) == 3
    c.delete_train_job("a")
    with pytest.raises(NotFoundError):
        c.delete_train_job("a")
    assert _used(tenant) == 2
    c.delete_train_job("b")
    assert _used(tenant) == 0
    assert tenant.client.get_quota()[0]["train_count_used"] == 0


def test_admin_quota_update_takes_effect_at_once(api_server, tenant_factory):
    tenant = tenant_factory(api_server, {"train_count_quota": 1})
    c = tenant.client
    c.submit_train_job(job("one"))
    two = c.submit_train_job(job("two"))
    assert two["state"] == "enqueued" and "train_count" in two["pending_reason"]
    updated = tenant.admin.update_quota(tenant.org_id, {"train_count_quota": 2})
    assert updated["train_count_quota"] == 2 and updated["train_count_used"] == 2
    assert c.describe_train_job("two")["state"] == "pending"


def test_quota_update_refuses_bad_input(api_server, tenant_factory):
    from platform_services.sdk import ValidationError

    tenant = tenant_factory(api_server)
    for bad in ({"train_gpus_quota": 1}, {"train_cpu_quota": "many"}, {"train_count_quota": -5}):
        with pytest.raises(ValidationError):
            tenant.admin.update_quota(tenant.org_id, bad)


@pytest.mark.parametrize("store", ["sqlite", "etcd"])
def test_a_quota_raise_admits_a_long_queue(store, request, tenant_factory):
    """More queued jobs than one etcd Txn may touch (128 ops): admitted over several transactions."""
    server = request.getfixturevalue("api_server" if store == "sqlite" else "etcd_api_server")
    tenant = tenant_factory(server, {"train_count_quota": 1})
    for i in range(140):
        tenant.client.submit_train_job(job(f"q-{i}"))
    tenant.admin.update_quota(tenant.org_id, {"train_count_quota": -1})
    assert tenant.client.get_quota()[0]["train_count_used"] == 140


@pytest.mark.parametrize("store", ["sqlite", "etcd"])
def test_batched_admission_keeps_order_and_admits_once(store, request, tenant_factory):
    """A raise that fits exactly two full batches of the queue: the oldest jobs are admitted, once each, and
    the new head (the first that does not fit) names its shortfall."""
    server = request.getfixturevalue("api_server" if store == "sqlite" else "etcd_api_server")
    tenant = tenant_factory(server, {"train_count_quota": 1})
    names = [f"q-{i:03d}" for i in range(2 * ADMIT_BATCH + 10)]
    for name in names:
        tenant.client.submit_train_job(job(name))
    tenant.admin.update_quota(tenant.org_id, {"train_count_quota": 2 * ADMIT_BATCH + 1})
    state = {j["job_name"]: j for j in tenant.client.list_train_jobs()}
    assert [n for n in names if state[n]["state"] == "pending"] == names[: 2 * ADMIT_BATCH + 1]
    head = names[2 * ADMIT_BATCH + 1]
    assert "train_count" in state[head]["pending_reason"], state[head]
    assert tenant.client.get_quota()[0]["train_count_used"] == 2 * ADMIT_BATCH + 1
    for name in (names[1], names[ADMIT_BATCH], names[ADMIT_BATCH + 1], names[2 * ADMIT_BATCH]):
        assert [e["type"] for e in tenant.client.get_train_job_events(name)] == ["enqueued", "pending"]
