"""The embedded default store: one SQLite file in WAL mode, writes serialised by BEGIN IMMEDIATE.

Writes go through one connection behind a lock; reads through a connection per thread, without the lock: in
WAL mode readers and the writer do not block each other, so a long list never holds up a commit (which the
job service makes on its event loop: see JobService).

Leadership is a row per name (holder, its host and pid, expiry) changed in a BEGIN IMMEDIATE transaction, so
two servers opening the same file still elect one. WAL mode needs every process using the file on one host
(https://www.sqlite.org/wal.html), so a candidate can also tell that a holder on its host has died (its pid is
gone) and take over at once rather than after the TTL: a restarted single server does not wait for itself.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from platform_services.store.base import Compare, Delete, Item, Put, StoreUnavailable, encode_json

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, mod_revision INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('revision', 0);
CREATE TABLE IF NOT EXISTS leaders (
    name TEXT PRIMARY KEY, holder TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL,
    expires_at REAL NOT NULL
);
"""


def _prefix_end(prefix: str) -> str:
    return prefix[:-1] + chr(ord(prefix[-1]) + 1) if prefix else "\U0010ffff"


class SqliteStore:
    shared = False

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One writing connection shared by the server's threads behind a lock: SQLite serialises writers
        # anyway, and a single connection keeps the transaction logic obvious.
        self._conn = self._connect()
        self._lock = threading.Lock()
        self._local = threading.local()  # each thread's reading connection
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()  # not the writer's: opening a reader never waits for a write
        self._closed = False
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a commit survives a crash of the process; a power loss may drop the last
            # transactions but never corrupts the file (https://www.sqlite.org/pragma.html#pragma_synchronous).
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=30)

    def _reader(self) -> sqlite3.Connection:
        """This thread's reading connection. Each statement is its own read transaction (autocommit), so a
        read sees every commit that returned before it began."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            with self._readers_lock:
                if self._closed:
                    raise StoreUnavailable(f"sqlite {self.path}: the store was closed")
                conn = self._local.conn = self._connect()
                self._readers.append(conn)
        return conn

    def get(self, key: str) -> Item | None:
        row = self._reader().execute("SELECT value, mod_revision FROM kv WHERE key = ?", (key,)).fetchone()
        return Item(key, json.loads(row[0]), row[1]) if row else None

    def list(self, prefix: str, limit: int | None = None) -> list[Item]:
        rows = (
            self._reader()
            .execute(
                "SELECT key, value, mod_revision FROM kv WHERE key >= ? AND key < ? ORDER BY key LIMIT ?",
                (prefix, _prefix_end(prefix), -1 if limit is None else limit),
            )
            .fetchall()
        )
        return [Item(k, json.loads(v), r) for k, v, r in rows]

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Cursor]:
        """A write transaction: committed when the block ends, rolled back when it raises."""
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def commit(self, compares: list[Compare], ops: list[Put | Delete]) -> int:
        for op in ops:
            if isinstance(op, Put) and op.expires_in_s is not None:
                raise ValueError(f"{op.key}: the SQLite store keeps no expiring keys (a shared store does)")
        with self._write() as cur:
            for c in compares:
                row = cur.execute("SELECT mod_revision FROM kv WHERE key = ?", (c.key,)).fetchone()
                if (row[0] if row else 0) != c.mod_revision:
                    return 0  # nothing written yet: committing the empty transaction is a rollback
            revision = cur.execute(
                "UPDATE meta SET value = value + 1 WHERE name = 'revision' RETURNING value"
            ).fetchone()[0]
            for op in ops:
                if isinstance(op, Put):
                    cur.execute(
                        "INSERT INTO kv VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET"
                        " value = excluded.value,"
                        " mod_revision = excluded.mod_revision",
                        (op.key, encode_json(op.value).decode(), revision),
                    )
                else:
                    cur.execute("DELETE FROM kv WHERE key = ?", (op.key,))
            return revision

    def ping(self) -> None:
        try:
            with self._lock:
                self._conn.execute("SELECT 1 FROM meta LIMIT 1").fetchone()
        except sqlite3.Error as exc:
            raise StoreUnavailable(str(exc)) from exc

    def leadership(self, name: str, candidate: str, ttl_s: int) -> SqliteLeadership:
        return SqliteLeadership(self, name, candidate, ttl_s)

    def close(self) -> None:
        with self._lock, self._readers_lock:
            self._closed = True
            for conn in [self._conn, *self._readers]:
                conn.close()
            self._readers.clear()


class SqliteLeadership:
    def __init__(self, store: SqliteStore, name: str, candidate: str, ttl_s: int):
        self._store = store
        self.name = name
        self.candidate = candidate
        self.ttl_s = ttl_s
        self._host = socket.gethostname()

    def campaign(self) -> str:
        try:
            with self._store._write() as cur:
                row = cur.execute(
                    "SELECT holder, host, pid, expires_at FROM leaders WHERE name = ?", (self.name,)
                ).fetchone()
                now = time.time()
                if (
                    row is not None
                    and row[0] != self.candidate
                    and row[3] > now
                    and self._alive(row[1], row[2])
                ):
                    return row[0]
                cur.execute(
                    "INSERT INTO leaders VALUES (?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET"
                    " holder = excluded.holder, host = excluded.host, pid = excluded.pid,"
                    " expires_at = excluded.expires_at",
                    (self.name, self.candidate, self._host, os.getpid(), now + self.ttl_s),
                )
                return self.candidate
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"sqlite {self._store.path}: {exc}") from exc

    def resign(self) -> None:
        try:
            with self._store._write() as cur:
                cur.execute("DELETE FROM leaders WHERE name = ? AND holder = ?", (self.name, self.candidate))
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"sqlite {self._store.path}: {exc}") from exc

    def _alive(self, host: str, pid: int) -> bool:
        """False only for a holder on this host whose process is gone (a reused pid reads as alive: the claim
        then lapses at its expiry, the safe way round)."""
        if host != self._host:
            return True
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
