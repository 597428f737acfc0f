"""The storage interface every backend implements.

Keys are strings under a few prefixes (`/orgs/`, `/keys/`, `/jobs/<org>/`, ...), values are JSON objects.
Every write bumps a store-wide revision; each item carries the revision of its last change (`mod_revision`, 0
for "absent"). `commit` applies puts and deletes atomically if every compare still holds, which is the only
concurrency primitive the domain code uses: read, decide, commit-if-unchanged, retry. etcd has exactly this
model (Txn with mod_revision compares), so the SQLite backend emulates it.

Besides the key-value interface each store provides a leadership claim (`leadership`), for background work
that must run on one server at a time, and says whether several servers use it at once (`shared`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Protocol

import orjson

# Every backend accepts at least this many compares, and as many operations, in one commit: etcd's default
# `--max-txn-ops`, which the platform's cluster keeps. Code committing an unbounded set splits it below this.
MAX_TXN_OPS = 128


_STDLIB_ENCODE = json.JSONEncoder(separators=(",", ":")).encode


def encode_json(value) -> bytes:
    """A stored value as compact JSON. orjson writes it in about a tenth of the standard library's time, which
    counts on every commit; it refuses integers beyond 64 bits, which memory sums in a ledger can reach, and
    those take the standard library's way. Values are read back with json.loads: orjson would read such an
    integer as a float, silently inexact."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return _STDLIB_ENCODE(value).encode()


class StoreUnavailable(Exception):
    """The backend cannot be reached or answered an error."""


@dataclass(frozen=True)
class Item:
    key: str
    value: dict
    mod_revision: int


@dataclass(frozen=True)
class Compare:
    """Holds when the key's mod_revision equals `mod_revision` (0 means: the key does not exist)."""

    key: str
    mod_revision: int


@dataclass(frozen=True)
class Put:
    """`expires_in_s`: a key the store deletes at least that many seconds later (a shared store's leases;
    the embedded store keeps no expiring keys and refuses one)."""

    key: str
    value: dict
    expires_in_s: int | None = None


@dataclass(frozen=True)
class Delete:
    key: str


class Leadership(Protocol):
    """One candidate's claim on a named leadership. The claim lapses `ttl_s` after the last `campaign` that
    returned this candidate, so a leader campaigns well within the TTL; a lapsed claim may be taken over."""

    def campaign(self) -> str:
        """Take the leadership if nobody holds it, keep it if this candidate does; return the holder's id.
        Raises StoreUnavailable (the caller then cannot tell, and must assume it leads no longer)."""
        ...

    def resign(self) -> None:
        """Give the claim up now, if held, so another candidate takes over without waiting for the TTL."""
        ...


class Store(Protocol):
    # True when several servers use the store at once (etcd); False for one server's own file (SQLite).
    shared: bool

    def get(self, key: str) -> Item | None: ...

    def list(self, prefix: str, limit: int | None = None) -> list[Item]:
        """Items whose key starts with `prefix`, in key order; the first `limit` of them when given."""
        ...

    def commit(self, compares: list[Compare], ops: list[Put | Delete]) -> int:
        """Apply `ops` atomically if all `compares` hold: the store's new revision (the mod_revision of every
        key put), or 0 (nothing applied) when a compare failed."""
        ...

    def ping(self) -> None:
        """Raise StoreUnavailable when the store cannot serve requests."""
        ...

    def leadership(self, name: str, candidate: str, ttl_s: int) -> Leadership:
        """`candidate`'s claim on the leadership called `name` (one per name and candidate)."""
        ...

    def close(self) -> None: ...


def copy_value(value):
    """A deep copy of a stored JSON value (dicts, lists, scalars): a third of copy.deepcopy's cost, and no
    encode/decode round trip."""
    if isinstance(value, dict):
        return {k: copy_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_value(v) for v in value]
    return value


def cas_item(item: Item | None, key: str) -> Compare:
    return Compare(key, item.mod_revision if item else 0)
