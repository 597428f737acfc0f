"""Remembers accepted signatures so that each is accepted once (SigV4 and Galaxy V3 carry no nonce).

Entries live twice the skew window: a signature older than that is refused by the clock check anyway.
Where the store is shared by server replicas (etcd), the signature's hash is a key created only if absent and
expiring with a lease, so a request replayed to another replica is refused too. Those checks are group
committed: the checks that arrive while one Txn is in flight go together in the next (each key its own nested
put-if-absent), so under load a signed request costs a fraction of a Txn. On SQLite (one server's own file)
the cache is the server's memory: exact for that server and free.
"""

import hashlib
import threading
import time
from collections import OrderedDict

from platform_services.group_commit import GroupCommit, Pending
from platform_services.store import Store


class ReplayCache:
    """In this process's memory."""

    shared = False

    def __init__(self, ttl_s: float, max_entries: int = 1_000_000):
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_use(self, signature: str, now: float | None = None) -> bool:
        """True the first time a signature is presented, False on every later presentation."""
        now = time.time() if now is None else now
        with self._lock:
            while self._seen:
                oldest, expiry = next(iter(self._seen.items()))
                if expiry > now and len(self._seen) < self.max_entries:
                    break
                del self._seen[oldest]
            if signature in self._seen:
                return False
            self._seen[signature] = now + self.ttl_s
            return True

    async def admit(self, signature: str) -> bool:
        return self.first_use(signature)


class SharedReplayCache:
    """In the shared store (one offering `create_expiring_many`), under `/replay/<sha256 of the signature>`.

    Group commit (platform_services/group_commit.py): the checks that wait while one Txn is in flight go
    together in the next, up to BATCH, and wait on the event loop, not in a thread. A Txn that fails fails the
    checks it carried (503), never others."""

    BATCH = 64  # keys per Txn: etcd counts each nested put, and allows 128 operations
    GROUP = "replay"  # one group: every check of this server shares the batches
    shared = True

    def __init__(self, store: Store, ttl_s: float):
        self.store = store
        self.ttl_s = int(ttl_s)
        self.batches = GroupCommit(self._send, lambda waiting: self.BATCH)

    @staticmethod
    def key(signature: str) -> str:
        """The signature's key in the store. A route that commits anyway may create it in its own commit (a
        compare that it is absent, a put expiring after `ttl_s`) instead of calling `admit` first."""
        return "/replay/" + hashlib.sha256(signature.encode()).hexdigest()

    async def admit(self, signature: str) -> bool:
        """True the first time any replica sees the signature; StoreUnavailable (503) when it cannot tell."""
        return await self.batches.run(self.GROUP, self.key(signature))

    def _send(self, _group: str, batch: list[Pending]) -> None:
        keys = list(dict.fromkeys(p.request for p in batch))  # a signature twice in one batch: the first wins
        created = dict(zip(keys, self.store.create_expiring_many(keys, self.ttl_s), strict=True))
        for p in batch:
            p.succeed(created.pop(p.request, False))


def replay_cache(store: Store, ttl_s: float) -> ReplayCache | SharedReplayCache:
    return SharedReplayCache(store, ttl_s) if store.shared else ReplayCache(ttl_s)
