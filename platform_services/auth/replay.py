"""Remembers accepted signatures so that each is accepted once (SigV4 and Galaxy V3 carry no nonce).

Entries live twice the skew window: a signature older than that is refused by the clock check anyway. The
cache is in the server's memory, which is exact for the embedded single-server default; server replicas
sharing a store would each hold their own (a replay to another replica inside the window is the documented
gap).
"""

import threading
import time
from collections import OrderedDict


class ReplayCache:
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
