"""Reconciler leader election: the election module on real stores, then real servers sharing one store."""

import time
import uuid

import httpx
import pytest
from cryptography.fernet import Fernet

from platform_services.runner.leader import LeaderElection
from platform_services.store.etcd import EtcdStore
from platform_services.store.etcd_local import LocalEtcd
from tests.platform_services.conftest import Server, etcd_settings, job, wait_for


def test_two_candidates_elect_one_and_a_resignation_hands_over(open_store):
    elected = []
    elections = [
        LeaderElection(
            open_store(), "reconciler", 2, candidate=name, on_elected=lambda n=name: elected.append(n)
        )
        for name in ("a", "b")
    ]
    for election in elections:
        election.start()
    try:
        wait_for(lambda: sum(e.leading() for e in elections) == 1, timeout=30)
        leader = next(e for e in elections if e.leading())
        other = next(e for e in elections if e is not leader)
        wait_for(lambda: other.holder == leader.candidate, timeout=30)
        assert elected == [leader.candidate] and not other.leading()
        leader.stop()  # resigns: the other takes over at its next campaign, not after the TTL
        assert not leader.leading()
        wait_for(other.leading, timeout=30)
        assert elected == [leader.candidate, other.candidate]
    finally:
        for election in elections:
            election.stop()


def test_a_silent_leader_is_replaced_only_after_its_ttl(open_store):
    silent = LeaderElection(open_store(), "reconciler", 3, candidate="silent")
    assert silent.campaign_once()  # then never again, as if the process froze or died without resigning
    other = LeaderElection(open_store(), "reconciler", 3, candidate="other")
    assert not other.campaign_once() and other.holder == "silent"
    wait_for(other.campaign_once, timeout=30, interval=0.2)
    assert not silent.campaign_once() and silent.holder == "other"


def test_leading_lapses_on_its_own_when_the_store_is_gone(tmp_path):
    """No answer is no renewal: the leader stands down before etcd could let another replica in."""
    with LocalEtcd(tmp_path / "etcd") as etcd:
        election = LeaderElection(EtcdStore(etcd.client_config, timeout_s=1), "reconciler", 3)
        assert election.campaign_once() and election.leading()
        etcd.stop()
        wait_for(lambda: not election.leading(), timeout=30)
        assert not election.campaign_once()


# ---- real servers ------------------------------------------------------------------------------------------
def _leads(server: Server) -> bool:
    for line in httpx.get(server.url + "/metrics", timeout=10).text.splitlines():
        if line.startswith("cloudml_reconciler_leader "):
            return float(line.split()[1]) == 1.0
    raise AssertionError("/metrics has no cloudml_reconciler_leader")


def _the_leader(servers: list[Server], timeout: float = 60) -> Server:
    """Waits until exactly one live server leads, and returns it."""
    live = [s for s in servers if s.proc.poll() is None]

    def sole_leader():
        leaders = [s for s in live if _leads(s)]
        return leaders[0] if len(leaders) == 1 else None

    return wait_for(sole_leader, timeout=timeout)


def _replicas(tmp_path, store: str, request, **settings) -> list[Server]:
    shared = {"server_key": Fernet.generate_key().decode(), "reconcile_interval_s": "0.05", **settings}
    if store == "etcd":
        shared.update(etcd_settings(request.getfixturevalue("etcd"), f"/leader-{uuid.uuid4().hex[:8]}"))
    else:
        shared["sqlite_path"] = tmp_path / "shared.db"  # two servers on one file (same host)
    return [Server(tmp_path / name, **shared).start() for name in ("replica-a", "replica-b")]


def _completes(server: Server, tenant_key: dict, name: str) -> None:
    client = server.client(tenant_key)
    client.submit_train_job(job(name))

    def finished():
        state = client.describe_train_job(name)["state"]
        return state if state in ("completed", "failed") else None

    assert wait_for(finished, timeout=90) == "completed"


@pytest.mark.parametrize("store", ["sqlite", "etcd"])
def test_replicas_elect_one_reconciler_and_fail_over_when_it_dies(store, request, tmp_path, tenant_factory):
    servers = _replicas(tmp_path, store, request, leader_ttl_s="3")
    try:
        leader = _the_leader(servers)
        standby = next(s for s in servers if s is not leader)
        deadline = time.monotonic() + 3  # a few campaigns of each: never two leaders
        while time.monotonic() < deadline:
            assert sum(_leads(s) for s in servers) <= 1
        tenant = tenant_factory(standby)
        _completes(standby, tenant.key, "via-standby")  # admitted by the standby, run by the leader
        assert "reconciler leadership acquired" in leader.log.read_text()
        assert "reconciler on standby" in standby.log.read_text()

        leader.kill()  # SIGKILL: no resignation; etcd's lease expires after the TTL (SQLite: the pid is gone)
        assert _the_leader(servers, timeout=3 + 30) is standby
        _completes(standby, tenant.key, "after-failover")
    finally:
        for server in servers:
            server.stop()


def test_a_clean_stop_resigns_so_failover_beats_the_ttl(request, tmp_path, tenant_factory):
    """With a 60 s TTL, only the revoke on SIGTERM lets the standby lead within the test's 40 s."""
    servers = _replicas(tmp_path, "etcd", request, leader_ttl_s="60")
    try:
        leader = _the_leader(servers)
        standby = next(s for s in servers if s is not leader)
        leader.proc.terminate()
        leader.proc.wait(30)
        # The lifespan shutdown ran and revoked the lease (uvicorn re-raises SIGTERM: the exit code is -15).
        assert "reconciler leadership released" in leader.log.read_text()
        wait_for(lambda: _leads(standby), timeout=40)
        tenant = tenant_factory(standby)
        _completes(standby, tenant.key, "after-handover")
    finally:
        for server in servers:
            server.stop()
