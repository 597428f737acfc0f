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

from starlette.concurrency import run_in_threadpool

from platform_services.store import Store


class ReplayCache:
    """In this process's memory."""

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


class _Check:
    def __init__(self, key: str):
        self.key = key
        self.done = False
        self.first = False
        self.error: Exception | None = None


class SharedReplayCache:
    """In the shared store (one offering `create_expiring_many`), under `/replay/<sha256 of the signature>`.

    Group commit: a thread whose check finds no Txn in flight sends every waiting check (up to BATCH) in one
    and then hands over, waking the others; one whose check is waiting waits for that Txn's answer or for
    its turn to send the next. A Txn that fails fails the checks it carried (503), never others."""

    BATCH = 64  # keys per Txn: etcd counts each nested put, and allows 128 operations

    def __init__(self, store: Store, ttl_s: float):
        self.store = store
        self.ttl_s = int(ttl_s)
        self._waiting: list[_Check] = []
        self._sending = False
        self._cond = threading.Condition()

    def first_use(self, signature: str) -> bool:
        """True the first time any replica sees the signature; StoreUnavailable (503) when it cannot tell."""
        check = _Check("/replay/" + hashlib.sha256(signature.encode()).hexdigest())
        with self._cond:
            self._waiting.append(check)
            while not check.done:
                if self._sending:
                    self._cond.wait()
                    continue
                self._sending = True
                batch, self._waiting = self._waiting[: self.BATCH], self._waiting[self.BATCH :]
                self._cond.release()
                try:
                    self._send(batch)
                finally:
                    self._cond.acquire()
                    self._sending = False
                    self._cond.notify_all()
        if check.error is not None:
            raise check.error
        return check.first

    def _send(self, batch: list[_Check]) -> None:
        keys = list(dict.fromkeys(c.key for c in batch))  # a signature twice in one batch: the first wins
        try:
            created = dict(zip(keys, self.store.create_expiring_many(keys, self.ttl_s), strict=True))
        except Exception as exc:
            for c in batch:
                c.error, c.done = exc, True
            return
        for c in batch:
            c.first, c.done = created.pop(c.key, False), True

    async def admit(self, signature: str) -> bool:
        return await run_in_threadpool(self.first_use, signature)


def replay_cache(store: Store, ttl_s: float) -> ReplayCache | SharedReplayCache:
    return SharedReplayCache(store, ttl_s) if store.shared else ReplayCache(ttl_s)
