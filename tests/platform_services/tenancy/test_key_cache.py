"""The access-key cache: a change through this server counts at once, one through another server replica
sharing the store within `key_cache_ttl_s`; disabled and unknown keys are never remembered. Two `Tenancy`
objects on one real SQLite store stand for two replicas; the cache's clock is a controlled one."""

import time

import pytest
from cryptography.fernet import Fernet

from platform_services.store.sqlite import SqliteStore
from platform_services.tenancy import service as tenancy_service
from platform_services.tenancy.crypto import SecretBox
from platform_services.tenancy.service import Tenancy

TTL = 5.0


class Clock:
    def __init__(self):
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    @staticmethod
    def time() -> float:
        return time.time()


@pytest.fixture
def replicas(tmp_path, monkeypatch):
    clock = Clock()
    monkeypatch.setattr(tenancy_service, "time", clock)
    store = SqliteStore(tmp_path / "cloudml.db")
    box = SecretBox(Fernet.generate_key().decode())
    here, there = Tenancy(store, box, key_cache_ttl_s=TTL), Tenancy(store, box, key_cache_ttl_s=TTL)
    here.create_org("acme")
    yield here, there, clock
    store.close()


def test_disable_counts_here_at_once_and_on_another_replica_within_the_ttl(replicas):
    here, there, clock = replicas
    key = here.create_key("acme")
    ak = key["access_key"]
    assert here.lookup(ak)[1] == there.lookup(ak)[1] == key["secret_key"]
    here.update_key(ak, enabled=False)
    assert here.lookup(ak) is None
    clock.now += TTL - 0.1
    assert there.lookup(ak) is not None  # the documented bound: remembered up to the TTL
    clock.now += 0.2
    assert there.lookup(ak) is None


def test_rotation_counts_here_at_once_and_on_another_replica_within_the_ttl(replicas):
    here, there, clock = replicas
    key = here.create_key("acme")
    ak = key["access_key"]
    there.lookup(ak)
    new_secret = here.update_key(ak, rotate=True)["secret_key"]
    assert here.lookup(ak)[1] == new_secret
    assert there.lookup(ak)[1] == key["secret_key"]
    clock.now += TTL + 0.1
    assert there.lookup(ak)[1] == new_secret


def test_disabled_keys_are_not_remembered(replicas):
    here, there, _ = replicas
    ak = here.create_key("acme")["access_key"]
    here.update_key(ak, enabled=False)
    assert there.lookup(ak) is None
    here.update_key(ak, enabled=True)
    assert there.lookup(ak) is not None  # no cached refusal to wait out


def test_a_zero_ttl_remembers_nothing(replicas):
    here = replicas[0]
    uncached = Tenancy(here.store, here.box, key_cache_ttl_s=0)
    ak = here.create_key("acme")["access_key"]
    assert uncached.lookup(ak) is not None
    here.update_key(ak, enabled=False)
    assert uncached.lookup(ak) is None
    assert uncached.cached(ak) is None
