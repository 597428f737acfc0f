"""What only the etcd store has: TLS with client certificates, several endpoints, etcd's limits, readiness."""

import time
import uuid
from dataclasses import replace

import httpx
import pytest

from platform_services.sdk import ServerError
from platform_services.store import Compare, Put, StoreUnavailable
from platform_services.store.etcd import EtcdStore, TransactionTooLarge
from platform_services.store.etcd_local import LocalEtcd, make_pki
from tests.platform_services.conftest import Server, dead_url, etcd_settings, wait_for


def _store(config, **kwargs) -> EtcdStore:
    return EtcdStore(config, prefix=f"/etcd-{uuid.uuid4().hex[:8]}", **kwargs)


def test_a_prefix_is_a_separate_namespace(etcd):
    one, two = _store(etcd.client_config), _store(etcd.client_config)
    one.commit([], [Put("/orgs/a", {"n": 1})])
    assert two.get("/orgs/a") is None and two.list("/") == []
    assert [i.key for i in one.list("/")] == ["/orgs/a"]


def test_a_dead_endpoint_is_skipped(etcd):
    config = replace(etcd.client_config, endpoints=(dead_url(), etcd.url))
    store = _store(config)
    assert store.commit([], [Put("/k", {})])
    assert store.get("/k") is not None
    store.ping()


def test_unreachable_cluster_is_store_unavailable_and_fast(etcd):
    store = _store(replace(etcd.client_config, endpoints=(dead_url(), dead_url())), timeout_s=1)
    started = time.monotonic()
    for call in (store.ping, lambda: store.get("/k"), lambda: store.commit([], [Put("/k", {})])):
        with pytest.raises(StoreUnavailable, match="no endpoint answered"):
            call()
    assert time.monotonic() - started < 5


def test_a_client_certificate_from_another_ca_is_refused(etcd, tmp_path):
    other = make_pki(tmp_path / "other")
    store = _store(replace(etcd.client_config, cert=other["client_cert"], key=other["client_key"]))
    with pytest.raises(StoreUnavailable):
        store.get("/k")
    with pytest.raises(StoreUnavailable):
        store.commit([], [Put("/k", {})])


def test_plain_http_endpoints_are_refused(etcd):
    with pytest.raises(ValueError, match="https"):
        _store(replace(etcd.client_config, endpoints=("http://127.0.0.1:2379",)))


def test_a_transaction_over_etcds_op_limit_is_refused_whole(etcd):
    store = _store(etcd.client_config)
    with pytest.raises(TransactionTooLarge, match="max-txn-ops"):
        store.commit([], [Put(f"/big/{i}", {}) for i in range(store.max_txn_ops + 1)])
    # The server enforces the same limit when the client's is set too high.
    lax = _store(etcd.client_config, max_txn_ops=10_000)
    with pytest.raises(TransactionTooLarge):
        lax.commit([], [Put(f"/big/{i}", {}) for i in range(200)])
    assert store.list("/big/") == [] and lax.list("/big/") == []


def test_readyz_follows_etcd(tmp_path):
    """Readiness is etcd's: 200 while it serves, 503 naming the store once it is gone."""
    etcd = LocalEtcd(tmp_path / "etcd").start()
    (tmp_path / "server").mkdir()
    server = Server(tmp_path / "server", runner_enabled="false", **etcd_settings(etcd, "/ready"))
    try:
        server.start()
        assert httpx.get(server.url + "/readyz").json() == {"status": "ok"}
        etcd.stop()
        answer = httpx.get(server.url + "/readyz", timeout=10)
        assert answer.status_code == 503
        assert answer.json()["status"] == "unavailable" and "etcd" in answer.json()["store"]
        # A signed call answers 503 in the error shape (the key lookup needs the store), not a crash.
        with pytest.raises(ServerError) as failed:
            server.client(server.admin_key).list_orgs()
        assert failed.value.status == 503 and failed.value.code == "StoreUnavailable"
    finally:
        server.stop()
        etcd.stop()


def test_create_expiring_is_put_if_absent_then_expires(etcd):
    """The shared replay cache's primitive: created once for every client of the prefix, then expires."""
    prefix = f"/etcd-{uuid.uuid4().hex[:8]}"
    one, two = EtcdStore(etcd.client_config, prefix=prefix), EtcdStore(etcd.client_config, prefix=prefix)
    assert one.create_expiring("/replay/a", 1)
    assert not one.create_expiring("/replay/a", 1)
    assert not two.create_expiring("/replay/a", 1)  # another replica sees it too
    assert two.create_expiring("/replay/b", 1)
    wait_for(lambda: one.create_expiring("/replay/a", 1), timeout=30, interval=0.2)


def test_create_expiring_costs_one_request_once_its_lease_is_granted(etcd):
    store = _store(etcd.client_config)
    calls, send = [], store._call

    def counted(path, body, **kwargs):
        calls.append(path)
        return send(path, body, **kwargs)

    store._call = counted
    store.create_expiring("/replay/first", 600)  # grants the lease shared by the next minute's keys
    assert calls == ["/v3/lease/grant", "/v3/kv/txn"]
    calls.clear()
    for i in range(20):
        store.create_expiring(f"/replay/{i}", 600)
    assert calls == ["/v3/kv/txn"] * 20


def test_a_revoked_shared_lease_is_replaced(etcd):
    store = _store(etcd.client_config)
    assert store.create_expiring("/replay/x", 600)
    lease = store._expiring_leases[600][0]
    store.revoke_lease(lease)  # as an operator might; the keys on it go with it
    assert store.create_expiring("/replay/x", 600)
    assert store._expiring_leases[600][0] != lease


def test_an_expiring_put_commits_with_the_rest_then_expires(etcd):
    """How a submission records its signature: the replay key created in the same Txn, under its compare, on
    the lease create_expiring uses (so a later create_expiring of that key is refused until it expires)."""
    store = _store(etcd.client_config)
    assert store.commit([Compare("/replay/s", 0)], [Put("/jobs/o/a", {"n": 1}), Put("/replay/s", {}, 1)])
    assert not store.create_expiring("/replay/s", 1)  # one store's replay key, whichever way it was created
    assert not store.commit([Compare("/replay/s", 0)], [Put("/jobs/o/b", {"n": 2}), Put("/replay/s", {}, 1)])
    assert store.get("/jobs/o/b") is None  # the failed compare kept the whole Txn out
    wait_for(lambda: store.get("/replay/s") is None, timeout=30, interval=0.2)
    assert store.get("/jobs/o/a").value == {"n": 1}  # only the expiring key goes


def test_an_expiring_put_after_its_lease_was_revoked_gets_a_new_one(etcd):
    store = _store(etcd.client_config)
    assert store.create_expiring("/replay/x", 600)
    store.revoke_lease(store._expiring_leases[600][0])
    assert store.commit([], [Put("/replay/y", {}, 600)])  # LeaseNotFound once, then a fresh lease
    assert store.get("/replay/y") is not None


def test_leadership_lease_is_revoked_on_resign_and_regranted_after_expiry(etcd):
    store = _store(etcd.client_config)
    claim = store.leadership("reconciler", "a", 2)
    assert claim.campaign() == "a"
    lease = claim._lease
    assert store.keep_alive(lease) > 0
    claim.resign()
    assert store.keep_alive(lease) == 0
    assert claim.campaign() == "a"  # a fresh lease
    store.revoke_lease(claim._lease)  # lost behind its back (as after a long pause): the key went with it
    assert store.leadership("reconciler", "b", 2).campaign() == "b"
    assert claim.campaign() == "b"
