"""What only the SQLite store has: leadership knows whether a holder's process on this host still lives."""

import subprocess
import sys

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
