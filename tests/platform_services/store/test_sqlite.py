"""What only the SQLite store has: leadership knows whether a holder's process on this host still lives;
reads do not wait for the writer."""

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from platform_services.store import Put
from platform_services.store.sqlite import SqliteStore
from tests.platform_services.conftest import REPO

# Another server process on the same file: takes the leadership, says so, holds it until its stdin closes.
_HOLDER = """
import sys
from platform_services.store.sqlite import SqliteStore
print(SqliteStore(sys.argv[1]).leadership("reconciler", "other", 600).campaign(), flush=True)
sys.stdin.read()
"""


def _holder(path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "other"
    return proc


def test_a_live_holder_in_another_process_keeps_the_claim(tmp_path):
    path = tmp_path / "db.sqlite"
    proc = _holder(path)
    try:
        store = SqliteStore(path)
        assert store.leadership("reconciler", "me", 600).campaign() == "other"
    finally:
        proc.stdin.close()
        proc.wait(30)
    # Its process is gone: the claim is taken over at once, not 600 s later (a restarted single server).
    assert store.leadership("reconciler", "me", 600).campaign() == "me"
    assert store.leadership("reconciler", "third", 600).campaign() == "me"  # and this process lives


def test_reads_from_any_thread_do_not_wait_for_a_write_in_progress(tmp_path):
    store = SqliteStore(tmp_path / "db.sqlite")
    store.commit([], [Put("/k", {"n": 1})])
    with ThreadPoolExecutor(2) as pool, store._write() as cur:  # a write transaction held open
        cur.execute("UPDATE kv SET value = '{\"n\": 2}' WHERE key = '/k'")
        # Both reads finish while the writer holds the lock (they would wait for ever on it), and see the
        # last committed value, not the write in progress.
        reads = [pool.submit(store.get, "/k"), pool.submit(store.list, "/")]
        assert reads[0].result(10).value == {"n": 1}
        assert [i.value for i in reads[1].result(10)] == [{"n": 1}]
    assert store.get("/k").value == {"n": 2}  # and once committed, every thread sees it
    assert ThreadPoolExecutor(1).submit(store.get, "/k").result(10).value == {"n": 2}
    store.close()


def test_an_expiring_key_is_refused_and_nothing_written(tmp_path):
    store = SqliteStore(tmp_path / "db.sqlite")
    with pytest.raises(ValueError, match="/replay/s: the SQLite store keeps no expiring keys"):
        store.commit([], [Put("/jobs/o/a", {"n": 1}), Put("/replay/s", {}, 60)])
    assert store.get("/jobs/o/a") is None
