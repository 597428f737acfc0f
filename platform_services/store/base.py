"""The storage interface every backend implements.

Keys are strings under a few prefixes (`/orgs/`, `/keys/`, `/jobs/<org>/`, ...), values are JSON objects.
Every write bumps a store-wide revision; each item carries the revision of its last change (`mod_revision`, 0
for "absent"). `commit` applies puts and deletes atomically if every compare still holds, which is the only
concurrency primitive the domain code uses: read, decide, commit-if-unchanged, retry. etcd has exactly this
model (Txn with mod_revision compares), so the SQLite backend emulates it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


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
    key: str
    value: dict


@dataclass(frozen=True)
class Delete:
    key: str


class Store(Protocol):
    def get(self, key: str) -> Item | None: ...

    def list(self, prefix: str) -> list[Item]:
        """Items whose key starts with `prefix`, in key order."""
        ...

    def commit(self, compares: list[Compare], ops: list[Put | Delete]) -> bool:
        """Apply `ops` atomically if all `compares` hold; False (nothing applied) otherwise."""
        ...

    def ping(self) -> None:
        """Raise StoreUnavailable when the store cannot serve requests."""
        ...

    def close(self) -> None: ...


def cas_item(item: Item | None, key: str) -> Compare:
    return Compare(key, item.mod_revision if item else 0)
