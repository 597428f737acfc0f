"""The embedded default store: one SQLite file in WAL mode, writes serialised by BEGIN IMMEDIATE."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

from platform_services.store.base import Compare, Delete, Item, Put, StoreUnavailable

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, mod_revision INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('revision', 0);
"""


def _prefix_end(prefix: str) -> str:
    return prefix[:-1] + chr(ord(prefix[-1]) + 1) if prefix else "\U0010ffff"


class SqliteStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection shared by the server's threads behind a lock: SQLite serialises writers anyway,
        # and a single connection keeps the transaction logic obvious.
        self._conn = sqlite3.connect(
            str(self.path), isolation_level=None, check_same_thread=False, timeout=30
        )
        self._lock = threading.Lock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a commit survives a crash of the process; a power loss may drop the last
            # transactions but never corrupts the file (https://www.sqlite.org/pragma.html#pragma_synchronous).
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)

    def get(self, key: str) -> Item | None:
        with self._lock:
            row = self._conn.execute("SELECT value, mod_revision FROM kv WHERE key = ?", (key,)).fetchone()
        return Item(key, json.loads(row[0]), row[1]) if row else None

    def list(self, prefix: str) -> list[Item]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT key, value, mod_revision FROM kv WHERE key >= ? AND key < ? ORDER BY key",
                (prefix, _prefix_end(prefix)),
            ).fetchall()
        return [Item(k, json.loads(v), r) for k, v, r in rows]

    def commit(self, compares: list[Compare], ops: list[Put | Delete]) -> bool:
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                for c in compares:
                    row = cur.execute("SELECT mod_revision FROM kv WHERE key = ?", (c.key,)).fetchone()
                    if (row[0] if row else 0) != c.mod_revision:
                        cur.execute("ROLLBACK")
                        return False
                revision = cur.execute("SELECT value FROM meta WHERE name = 'revision'").fetchone()[0] + 1
                cur.execute("UPDATE meta SET value = ? WHERE name = 'revision'", (revision,))
                for op in ops:
                    if isinstance(op, Put):
                        cur.execute(
                            "INSERT INTO kv VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET"
                            " value = excluded.value,"
                            " mod_revision = excluded.mod_revision",
                            (op.key, json.dumps(op.value, separators=(",", ":")), revision),
                        )
                    else:
                        cur.execute("DELETE FROM kv WHERE key = ?", (op.key,))
                cur.execute("COMMIT")
                return True
            except BaseException:
                cur.execute("ROLLBACK")
                raise

    def ping(self) -> None:
        try:
            with self._lock:
                self._conn.execute("SELECT 1 FROM meta LIMIT 1").fetchone()
        except sqlite3.Error as exc:
            raise StoreUnavailable(str(exc)) from exc

    def close(self) -> None:
        with self._lock:
            self._conn.close()
