"""Load generation for the job service benchmark: each concurrent client is its own process, and the server's
own time per request is read back from its access log.

Threads of one Python process share one GIL: at 32 clients on 2 cores the load generator's own contention
became tail latency that was then reported as the server's. A client process per concurrent client (forked
after the parent imported everything; each child builds its own HTTP client after the fork, so no connection
or lock is shared) leaves only the operating system's scheduling between them. Every client sends an
`X-Request-Id` unique to its phase, and the access log (`platform_services/api/middleware.py`, one JSON line
per request with its `ms` inside the server) gives the server-side latency of exactly those requests.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import select
import time
import uuid
from multiprocessing.connection import wait
from pathlib import Path

FORK = multiprocessing.get_context("fork")
START_TIMEOUT_S = 60.0  # forks plus client construction (an SSL context each) on 2 busy cores
# After a phase's deadline, the call in flight may still take its client's timeout (30 s in the benchmark).
FINISH_GRACE_S = 35.0
LOG_TRAIL_S = 5.0  # the server logs a request after sending its answer: its last lines trail the clients


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(len(ordered) * q) - 1)] if ordered else float("nan")


class Phase:
    """N calls spread over C client processes, started together; each stops early at the deadline.
    `call(client, request_id, tag)` makes one call; `make_client()` runs in the child, after the fork and
    before the start, so a client that connects there is timed on its keep-alive connection only. With
    `prepare(client, request_id, tag) -> request`, each child builds (and signs) all its requests before the
    start and times `call(client, request)` only: what a load generator replaying prepared requests does, so
    that the figures are the server's and the wire's, not the client's own request building."""

    def __init__(self, count: int, clients: int, max_seconds: float):
        self.count, self.clients, self.max_seconds = count, clients, max_seconds
        self.latencies: list[float] = []  # ms, as each client saw them
        self.server_ms: list[float] = []  # ms, inside the server (its access log), when one was read
        self.errors: list[str] = []
        self.elapsed = 0.0
        self.server_cpu = 0.0  # CPU seconds the server spent in this phase (all its threads)
        self.client_cpu = 0.0  # CPU seconds the client processes spent from the start signal on
        self.store_cpu = 0.0  # CPU seconds the store's own server (a local etcd) spent, when measured
        self.request_prefix = f"bench-{uuid.uuid4().hex[:12]}"

    def run(self, make_client, call, access_log: Path | None = None, prepare=None) -> Phase:
        offset = access_log.stat().st_size if access_log else 0
        share, extra = divmod(self.count, self.clients)
        # The start signal is the end of a pipe: closing its only writer wakes every client at once (a
        # multiprocessing Barrier wakes them one after another: ~25 ms between first and last of 32 here).
        go_r, go_w = os.pipe()
        ready_r, ready_w = os.pipe()  # a byte from each client once it is built (or failed to be)
        pending, procs = {}, []
        try:
            for n in range(self.clients):
                receiver, sender = FORK.Pipe(duplex=False)
                args = (n, share + (n < extra), (make_client, prepare, call), (go_r, go_w, ready_w), sender)
                proc = FORK.Process(target=self._client, args=args, daemon=True)
                proc.start()
                sender.close()  # the child's copy is the only writer left: its exit ends the pipe
                pending[receiver], procs = n, [*procs, proc]
            os.close(ready_w)
            if self._all_ready(ready_r, procs):
                os.close(go_w)
                go_w = None
                self._collect(pending)
            else:
                self.errors.append(
                    f"the {self.clients} clients did not all get ready (one died, or "
                    f"{START_TIMEOUT_S:.0f} s passed)"
                )
        finally:
            for proc in procs:  # before closing go_w: that would start clients still waiting
                if proc.is_alive():
                    proc.terminate()
                proc.join(5)
                if proc.is_alive():
                    proc.kill()
                    proc.join()
            for fd in (go_r, go_w, ready_r):
                if fd is not None:
                    os.close(fd)
            for receiver in pending:
                receiver.close()
        if access_log:
            self.server_ms = self._server_ms(access_log, offset)
        return self

    def _client(self, n: int, calls: int, functions: tuple, fds: tuple, sender) -> None:
        """One client process: its calls, then (latencies, errors, start, end, CPU s) to the parent."""
        make_client, prepare, call = functions
        go_r, go_w, ready_w = fds
        os.close(go_w)  # before saying ready: the parent's copy must be the last one
        latencies, errors, began, cpu = [], [], math.nan, 0.0
        try:
            client = make_client()
            ids = [(f"{self.request_prefix}-{n}-{i}", f"{n}-{i}") for i in range(calls)]
            requests = [prepare(client, *id_tag) for id_tag in ids] if prepare else None
        except Exception as exc:
            errors.append(f"client {n} not built: {type(exc).__name__}: {exc}"[:200])
            os.write(ready_w, b"!")
        else:
            os.write(ready_w, b"+")
            os.read(go_r, 1)  # returns (empty) when the parent closes its end
            began, cpu_began = time.monotonic(), time.process_time()  # monotonic: one clock for all
            deadline = began + self.max_seconds
            for i in range(calls):
                if time.monotonic() > deadline:
                    break
                start = time.perf_counter()
                try:
                    call(client, requests[i]) if requests else call(client, *ids[i])
                except Exception as exc:  # a benchmark reports failures, it does not stop on them
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])
                    continue
                latencies.append((time.perf_counter() - start) * 1000)
            cpu = time.process_time() - cpu_began
        sender.send((latencies, errors, began, time.monotonic(), cpu))
        sender.close()

    def _all_ready(self, ready_r: int, procs: list) -> bool:
        """Whether every client said it is ready within START_TIMEOUT_S; False at once when one died before
        (killed: a client that raised still says so, with exit status 0)."""
        limit, got = time.monotonic() + START_TIMEOUT_S, 0
        while got < self.clients and time.monotonic() < limit:
            if select.select([ready_r], [], [], 0.05)[0]:
                chunk = os.read(ready_r, 4096)
                if not chunk:  # every client has exited, not all of them ready
                    return False
                got += len(chunk)
            elif any(proc.exitcode not in (None, 0) for proc in procs):
                return False
        return got >= self.clients

    def _collect(self, pending: dict) -> None:
        limit = time.monotonic() + self.max_seconds + FINISH_GRACE_S
        spans = []
        while pending and (left := limit - time.monotonic()) > 0:
            for receiver in wait(list(pending), timeout=left):
                n = pending.pop(receiver)
                try:
                    latencies, errors, began, ended, cpu = receiver.recv()
                except EOFError:
                    self.errors.append(f"client {n} exited without a result")
                    continue
                finally:
                    receiver.close()
                self.latencies += latencies
                self.errors += errors
                self.client_cpu += cpu
                if not math.isnan(began):
                    spans.append((began, ended))
        self.errors += [f"client {n}: no result in time, terminated" for n in pending.values()]
        if spans:
            self.elapsed = max(end for _, end in spans) - min(start for start, _ in spans)

    def _server_ms(self, access_log: Path, offset: int) -> list[float]:
        """The `ms` of this phase's requests in the server's access log, from `offset` on."""
        prefix, found = self.request_prefix + "-", []
        deadline = time.monotonic() + LOG_TRAIL_S
        while len(found) < len(self.latencies) and time.monotonic() < deadline:
            with access_log.open("rb") as log:
                log.seek(offset)
                text = log.read().decode(errors="replace")
            found = []
            for line in text[: text.rfind("\n") + 1].splitlines():
                if prefix not in line:
                    continue
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if entry.get("msg") == "request" and str(entry.get("request_id", "")).startswith(prefix):
                    found.append(float(entry["ms"]))
            if len(found) < len(self.latencies):
                time.sleep(0.05)
        return found

    def add(self, other: Phase) -> Phase:
        self.count += other.count
        self.latencies += other.latencies
        self.server_ms += other.server_ms
        self.errors += other.errors
        self.elapsed += other.elapsed
        self.server_cpu += other.server_cpu
        self.client_cpu += other.client_cpu
        self.store_cpu += other.store_cpu
        return self

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def p(self, q: float) -> float:
        return percentile(self.latencies, q)

    def server_p(self, q: float) -> float:
        return percentile(self.server_ms, q)

    @property
    def cpu_ms(self) -> float:
        """Server CPU per completed call: unlike throughput, barely moved by other load on shared cores."""
        return self.server_cpu * 1000 / len(self.latencies) if self.latencies else float("nan")

    @property
    def client_cpu_ms(self) -> float:
        """The client processes' CPU per completed call: on shared cores, what the load generator took."""
        return self.client_cpu * 1000 / len(self.latencies) if self.latencies else float("nan")

    @property
    def store_cpu_ms(self) -> float:
        """The store process's CPU per completed call (a local etcd: it shares the cores too)."""
        return self.store_cpu * 1000 / len(self.latencies) if self.latencies else float("nan")
