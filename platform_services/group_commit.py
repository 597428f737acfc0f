"""Group commit per key (an org's submissions; the replay cache's checks), on the event loop: requests that
arrive while one batch of the same key is being committed wait together, and when it ends the whole waiting
batch is committed for all.

The first request of a key starts a drain task; every caller only appends its request and awaits its own
future. The drain takes the head of the waiting list (as much as `take` allows), runs `commit_batch`,
settles each request's future from what the batch recorded, and repeats until nothing waits. So a waiting
request holds no thread and wakes only when its own answer is there. `commit_batch` runs in the threadpool
(one hop per batch, whatever its size) when it waits on the network (etcd); `in_thread=False` runs it on the
event loop itself, for a store whose commit takes well under a millisecond of local work (the SQLite file):
at one client a thread handoff each way was a fifth of a submission's latency. The queue state is touched
only on the event loop: no lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool

from platform_services.errors import ApiError


class Pending:
    """One caller's request in a batch; `commit_batch` (in a worker thread, or on the loop when `in_thread` is
    off) settles it with `succeed` or `fail`, and the drain hands that to the caller's future."""

    __slots__ = ("done", "error", "future", "request", "result")

    def __init__(self, request: Any, future: asyncio.Future | None = None):
        self.request = request
        self.future = future
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None

    def succeed(self, result: Any) -> None:
        self.result, self.done = result, True

    def fail(self, error: BaseException) -> None:
        self.error, self.done = error, True


class GroupCommit:
    """`commit_batch(key, batch)` settles every request of `batch`; `take(waiting)` says how many from the
    head of the waiting list go in the next batch (at least 1)."""

    def __init__(
        self,
        commit_batch: Callable[[str, list[Pending]], None],
        take: Callable[[list[Pending]], int],
        in_thread: bool = True,
    ):
        self._commit_batch = commit_batch
        self._take = take
        self._in_thread = in_thread
        self._waiting: dict[str, list[Pending]] = {}  # a key is here while its drain task runs
        self._drains: set[asyncio.Task] = set()  # referenced, so that a running drain is not collected

    async def run(self, key: str, request: Any) -> Any:
        pending = Pending(request, asyncio.get_running_loop().create_future())
        waiting = self._waiting.get(key)
        if waiting is None:
            waiting = self._waiting[key] = []
            drain = asyncio.create_task(self._drain(key, waiting))
            self._drains.add(drain)
            drain.add_done_callback(self._drains.discard)
        waiting.append(pending)
        return await pending.future

    def waiting(self, key: str) -> int:
        """How many of `key`'s requests wait for the next batch (not counting a batch in flight)."""
        return len(self._waiting.get(key, ()))

    async def _drain(self, key: str, waiting: list[Pending]) -> None:
        batch: list[Pending] = []
        try:
            while waiting:
                count = max(1, self._take(waiting))
                batch, waiting[:] = waiting[:count], waiting[count:]
                if self._in_thread:
                    await run_in_threadpool(self._commit, key, batch)
                else:
                    self._commit(key, batch)
                    await asyncio.sleep(0)  # let the requests that arrived meanwhile join the next batch
                _settle(batch)
        finally:
            del self._waiting[key]  # no await since the loop's last check: nothing was appended meanwhile
            _settle(batch)  # cancelled (the server is stopping): answer what the batch settled, and ...
            for p in [*batch, *waiting]:  # ... the rest, so that nobody waits for ever
                if not p.future.done():
                    p.future.set_exception(
                        ApiError(503, "Unavailable", "the server stopped while this request was committed")
                    )

    def _commit(self, key: str, batch: list[Pending]) -> None:
        try:
            self._commit_batch(key, batch)
        except Exception as exc:  # the store failed, say: every request of the batch not yet settled
            for p in batch:
                if not p.done:
                    p.fail(exc)
        finally:
            for p in batch:  # a bug, or an interrupt: never leave a caller waiting for ever
                if not p.done:
                    p.fail(ApiError(500, "InternalError", "the batch of this request was not settled"))


def _settle(batch: list[Pending]) -> None:
    for p in batch:
        if not p.done or p.future.done():  # unsettled; or the caller went away (what was committed stays)
            continue
        if p.error is not None:
            p.future.set_exception(p.error)
        else:
            p.future.set_result(p.result)
