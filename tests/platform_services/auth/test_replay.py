"""The shared replay cache's group commit, on a real etcd: checks arriving while a Txn is in flight share the
next one, and each signature is still accepted exactly once."""

import asyncio
import threading
import uuid

import pytest

from platform_services.auth.replay import SharedReplayCache
from platform_services.store.base import StoreUnavailable
from platform_services.store.etcd import EtcdStore
from tests.platform_services.conftest import until


class _GatedStore:
    """The real store, with the first batch held until `release` so that the others queue up behind it;
    records the size of every batch sent."""

    def __init__(self, store, fail: bool = False):
        self.store, self.fail = store, fail
        self.batches: list[int] = []
        self.release = threading.Event()

    def create_expiring_many(self, keys, ttl_s):
        self.batches.append(len(keys))
        if len(self.batches) == 1:
            assert self.release.wait(60)
        if self.fail:
            raise StoreUnavailable("etcd went away")
        return self.store.create_expiring_many(keys, ttl_s)


def _race(cache, store, signatures):
    async def race():
        answers = [asyncio.create_task(cache.admit(signatures[0]))]
        await until(lambda: store.batches)  # the first check's Txn is in flight (held)
        answers += [asyncio.create_task(cache.admit(s)) for s in signatures[1:]]
        await until(lambda: cache.batches.waiting(cache.GROUP) == len(signatures) - 1)  # the others wait
        store.release.set()
        return await asyncio.gather(*answers, return_exceptions=True)

    return asyncio.run(race())


def _admit(cache, signature: str) -> bool:
    return asyncio.run(cache.admit(signature))


def test_checks_waiting_for_a_txn_share_the_next_and_each_signature_passes_once(etcd):
    store = EtcdStore(etcd.client_config, prefix=f"/replay-{uuid.uuid4().hex[:8]}")
    gated = _GatedStore(store)
    cache = SharedReplayCache(gated, 600)
    distinct = [f"sig-{i}" for i in range(30)]
    answers = _race(cache, gated, distinct + distinct[:10])  # ten replays racing their originals
    assert len(gated.batches) == 2  # the one in flight, then the 39 that waited (duplicates sent once)
    accepted = [s for s, first in zip(distinct + distinct[:10], answers, strict=True) if first is True]
    assert sorted(accepted) == sorted(distinct)
    other_replica = SharedReplayCache(EtcdStore(etcd.client_config, prefix=store._prefix.decode()), 600)
    assert not _admit(other_replica, "sig-3") and _admit(other_replica, "sig-new")


def test_a_failed_txn_fails_only_the_checks_it_carried(etcd):
    store = EtcdStore(etcd.client_config, prefix=f"/replay-{uuid.uuid4().hex[:8]}")
    gated = _GatedStore(store, fail=True)
    cache = SharedReplayCache(gated, 600)
    answers = _race(cache, gated, [f"sig-{i}" for i in range(5)])
    assert all(isinstance(a, StoreUnavailable) for a in answers)
    gated.fail = False
    assert _admit(cache, "sig-0")  # nothing was applied: the signature is still unused


def test_create_expiring_many_is_put_if_absent_per_key(etcd):
    store = EtcdStore(etcd.client_config, prefix=f"/replay-{uuid.uuid4().hex[:8]}")
    assert store.create_expiring_many(["/r/a", "/r/b"], 600) == [True, True]
    assert store.create_expiring_many(["/r/a", "/r/c", "/r/b"], 600) == [False, True, False]
    batch = [f"/r/{i}" for i in range(SharedReplayCache.BATCH)]
    assert store.create_expiring_many(batch, 600) == [True] * len(batch)  # a full batch fits one Txn
    with pytest.raises(StoreUnavailable):
        store.create_expiring_many([f"/r/x{i}" for i in range(SharedReplayCache.BATCH + 1)], 600)
