"""The storage contract every backend passes (parametrized over backends; etcd joins the list when built)."""

import threading

import pytest

from platform_services.store import Compare, Delete, Put
from platform_services.store.sqlite import SqliteStore


@pytest.fixture(params=["sqlite"])
def store(request, tmp_path):
    backend = SqliteStore(tmp_path / "db.sqlite")
    yield backend
    backend.close()


def test_put_get_list_delete(store):
    assert store.get("/a/1") is None
    assert store.commit([], [Put("/a/1", {"v": 1}), Put("/a/2", {"v": 2}), Put("/b/1", {"v": 3})])
    assert store.get("/a/1").value == {"v": 1}
    assert [i.key for i in store.list("/a/")] == ["/a/1", "/a/2"]
    assert store.commit([], [Delete("/a/1")])
    assert [i.key for i in store.list("/a/")] == ["/a/2"]


def test_compare_guards_the_whole_transaction(store):
    assert store.commit([Compare("/k", 0)], [Put("/k", {"n": 0})])
    assert not store.commit([Compare("/k", 0)], [Put("/k", {"n": 1}), Put("/other", {})])
    assert store.get("/other") is None
    item = store.get("/k")
    assert store.commit([Compare("/k", item.mod_revision)], [Put("/k", {"n": 1})])
    assert not store.commit([Compare("/k", item.mod_revision)], [Put("/k", {"n": 2})])
    assert store.get("/k").value == {"n": 1}


def test_concurrent_increments_lose_nothing(store):
    store.commit([], [Put("/counter", {"n": 0})])

    def bump():
        for _ in range(50):
            while True:
                item = store.get("/counter")
                if store.commit(
                    [Compare(item.key, item.mod_revision)], [Put(item.key, {"n": item.value["n"] + 1})]
                ):
                    break

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.get("/counter").value["n"] == 400


def test_ping(store):
    store.ping()
