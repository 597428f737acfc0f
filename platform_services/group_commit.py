"""Group commit per key (an org's submissions; the replay cache's checks): requests that arrive while
one batch of the same key is being committed wait together, and when it ends one of their threads commits the
whole waiting batch for all.

Leader/follower on a condition variable: a caller appends its request and, while a batch of its key is in
flight, waits; the first to find none in flight takes the head of the waiting list (as much as `take`
allows), commits it outside the lock, and wakes the others. Every request gets its own result or exception.
Callers are threads (the API's sync routes run in the threadpool); a follower blocks its thread meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from platform_services.errors import ApiError


class Pending:
    """One caller's request in a batch; `commit_batch` settles it with `succeed` or `fail`."""

    __slots__ = ("done", "error", "request", "result")

    def __init__(self, request: Any):
        self.request = request
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None

    def succeed(self, result: Any) -> None:
        self.result, self.done = result, True

    def fail(self, error: BaseException) -> None:
        self.error, self.done = error, True


class _Queue:
    def __init__(self, lock: threading.Lock):
        self.cond = threading.Condition(lock)
        self.waiting: list[Pending] = []
        self.committing = False


class GroupCommit:
    """`commit_batch(key, batch)` settles every request of `batch`; `take(waiting)` says how many from the
    head of the waiting list go in the next batch (at least 1)."""

    def __init__(
        self,
        commit_batch: Callable[[str, list[Pending]], None],
        take: Callable[[list[Pending]], int],
    ):
        self._commit_batch = commit_batch
        self._take = take
        self._lock = threading.Lock()  # one lock, a condition per key: waking one key's callers only
        self._queues: dict[str, _Queue] = {}

    def run(self, key: str, request: Any) -> Any:
        pending = Pending(request)
        with self._lock:
            queue = self._queues.get(key)
            if queue is None:
                queue = self._queues[key] = _Queue(self._lock)
            queue.waiting.append(pending)
            while not pending.done:
                if queue.committing:
                    queue.cond.wait()
                    continue
                queue.committing = True
                count = max(1, self._take(queue.waiting))
                batch, queue.waiting = queue.waiting[:count], queue.waiting[count:]
                self._lock.release()
                try:
                    self._commit(key, batch)
                finally:
                    self._lock.acquire()
                    queue.committing = False
                    queue.cond.notify_all()
            if not queue.waiting and not queue.committing and self._queues.get(key) is queue:
                del self._queues[key]
        if pending.error is not None:
            raise pending.error
        return pending.result

    def waiting(self, key: str) -> int:
        """How many of `key`'s requests wait for the next batch (not counting the one in flight)."""
        with self._lock:
            queue = self._queues.get(key)
            return len(queue.waiting) if queue else 0

    def _commit(self, key: str, batch: list[Pending]) -> None:
        try:
            self._commit_batch(key, batch)
        except Exception as exc:  # the store failed, say: every request of the batch not yet settled
            for p in batch:
                if not p.done:
                    p.fail(exc)
        finally:
            for p in batch:  # a bug, or an interrupt: never leave a follower waiting for ever
                if not p.done:
                    p.fail(ApiError(500, "InternalError", "the batch of this request was not settled"))
