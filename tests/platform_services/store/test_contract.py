"""The storage contract every backend passes: SQLite, and etcd (a real etcd 3.4 over mutual TLS)."""

import threading

import pytest

from platform_services.store import Compare, Delete, Put
from tests.platform_services.conftest import store_handles, wait_for


@pytest.fixture(params=["sqlite", "etcd"])
def open_store(request, tmp_path):
    # Tiny etcd pages so every list crosses page boundaries.
    yield from store_handles(request, tmp_path, "contract", page_size=2)


@pytest.fixture
def store(open_store):
    return open_store()


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


def test_list_is_prefix_scoped_in_byte_order(store):
    keys = ["/a/2", "/a/10", "/a/1", "/a/\u00e9", "/ab", "/a", "/b/1"]
    assert store.commit([], [Put(k, {"k": k}) for k in keys])
    assert [i.key for i in store.list("/a/")] == ["/a/1", "/a/10", "/a/2", "/a/\u00e9"]
    assert [i.value["k"] for i in store.list("/a/")] == ["/a/1", "/a/10", "/a/2", "/a/\u00e9"]
    assert [i.key for i in store.list("/")] == sorted(keys, key=str.encode)
    assert store.list("/c/") == []


def test_list_stops_at_its_limit(store):
    """A limit across page boundaries (etcd pages of 2 here) and a limit of 0 (etcd's "no limit")."""
    assert store.commit([], [Put(f"/q/{i:02d}", {"i": i}) for i in range(7)] + [Put("/r", {})])
    assert [i.value["i"] for i in store.list("/q/", limit=5)] == [0, 1, 2, 3, 4]
    assert len(store.list("/q/", limit=50)) == 7
    assert store.list("/q/", limit=0) == []


def test_ops_apply_in_order_so_the_last_op_on_a_key_wins(store):
    assert store.commit([], [Put("/k", {"n": 1}), Delete("/k"), Delete("/j"), Put("/j", {"n": 2})])
    assert store.get("/k") is None
    assert store.get("/j").value == {"n": 2}
    assert store.commit([], [Put("/j", {"n": 3}), Put("/j", {"n": 4})])
    assert store.get("/j").value == {"n": 4}


def test_revisions_grow_and_a_recreated_key_is_not_the_old_one(store):
    store.commit([], [Put("/x", {"v": 1})])
    first = store.get("/x")
    store.commit([], [Put("/y", {})])
    assert store.get("/y").mod_revision > first.mod_revision
    assert store.get("/x").mod_revision == first.mod_revision  # untouched keys keep theirs
    assert store.commit([Compare("/x", first.mod_revision)], [Delete("/x")])
    assert store.commit([Compare("/x", 0)], [Put("/x", {"v": 1})])  # a deleted key compares as absent
    recreated = store.get("/x")
    assert recreated.mod_revision > first.mod_revision
    assert not store.commit([Compare("/x", first.mod_revision)], [Put("/x", {"v": 2})])  # no ABA


def test_a_failed_compare_applies_nothing_among_many_ops(store):
    store.commit([], [Put("/guard", {})])
    ops = [Put(f"/many/{i:03}", {"i": i}) for i in range(100)]
    assert not store.commit([Compare("/guard", 0)], ops)
    assert store.list("/many/") == []
    assert store.commit([Compare("/guard", store.get("/guard").mod_revision)], ops)
    assert [i.value["i"] for i in store.list("/many/")] == list(range(100))


def test_values_round_trip(store):
    value = {"s": "\u00fcnicode \u2603", "n": 1.5, "big": 2**53, "l": [None, True, {"x": []}], "e": ""}
    store.commit([], [Put("/v", value)])
    assert store.get("/v").value == value


def test_integers_beyond_64_bits_round_trip_exactly(store):
    # A ledger's memory sum can pass 2**64 bytes (MAX_BYTES per replica, many replicas and jobs): the fast
    # encoder refuses such integers and a fast decoder would read them back as inexact floats.
    value = {"used": {"train_memory": 2**70 + 1, "total_memory": -(2**66) - 3}}
    store.commit([], [Put("/ledger/big", value)])
    read = store.get("/ledger/big").value
    assert read == value
    assert type(read["used"]["train_memory"]) is int


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


# ---- leadership --------------------------------------------------------------------------------------------
def test_one_candidate_leads_until_it_resigns(open_store):
    a = open_store().leadership("reconciler", "a", 30)
    b = open_store().leadership("reconciler", "b", 30)
    assert a.campaign() == "a"
    for _ in range(3):  # renewing keeps it; the other only learns who leads
        assert b.campaign() == "a"
        assert a.campaign() == "a"
    a.resign()
    assert b.campaign() == "b"
    assert a.campaign() == "b"
    a.resign()  # resigning what one does not hold changes nothing
    assert b.campaign() == "b"


def test_a_claim_not_renewed_lapses_after_its_ttl(open_store):
    a = open_store().leadership("reconciler", "a", 2)
    b = open_store().leadership("reconciler", "b", 2)
    assert a.campaign() == "a"
    assert b.campaign() == "a"
    wait_for(lambda: b.campaign() == "b", timeout=30, interval=0.2)  # a stopped renewing, as if it died
    assert a.campaign() == "b"


def test_leaderships_are_separate_by_name(open_store):
    store = open_store()
    assert store.leadership("one", "a", 30).campaign() == "a"
    assert store.leadership("two", "b", 30).campaign() == "b"
    assert store.leadership("one", "b", 30).campaign() == "a"
