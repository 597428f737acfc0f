"""Leader election: background work that must run on one server replica at a time.

The store provides the claim (`Store.leadership`: on etcd a lease and a leader key created only if absent, on
SQLite a row with holder and expiry). This module runs the election: a thread campaigns every third of the
TTL while leading (more often on standby), and `leading()` answers from a local deadline, so it turns false by
itself when renewals stop succeeding (the store unreachable, the process paused) before the store can hand the
claim to another replica.

The deadline is counted from the start of the last successful campaign (the store's expiry is no earlier),
less one renewal interval: that margin covers a reconcile step begun just before the deadline. A replica
that dies is replaced after the TTL plus at most STANDBY_RETRY_S; one that stops cleanly resigns, so another
takes over at its next campaign.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable

from platform_services.store.base import Store, StoreUnavailable

log = logging.getLogger("platform_services.runner.leader")
# How often a replica on standby tries for the claim (Kubernetes' leader election retries every 2 s too): two
# cheap requests, and after a clean handover the next leader starts within this.
STANDBY_RETRY_S = 2.0


def candidate_id() -> str:
    """Names this process in logs and in the store: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LeaderElection:
    """`name`'s election among the replicas sharing `store`, this process standing as `candidate`."""

    def __init__(
        self,
        store: Store,
        name: str,
        ttl_s: int,
        candidate: str | None = None,
        on_elected: Callable[[], None] = lambda: None,
    ):
        self.candidate = candidate or candidate_id()
        self.leadership = store.leadership(name, self.candidate, ttl_s)
        self.ttl_s = ttl_s
        self.interval_s = ttl_s / 3
        self.on_elected = on_elected
        self.holder: str | None = None  # who led at the last campaign that got an answer
        self._leader_until = 0.0  # monotonic
        self._was_leading = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def leading(self) -> bool:
        return time.monotonic() < self._leader_until

    def campaign_once(self) -> bool:
        """One round against the store; True when this candidate leads after it."""
        started = time.monotonic()
        try:
            holder = self.leadership.campaign()
        except StoreUnavailable as exc:
            if self._was_leading or self.holder is not None:
                log.warning("leader election: store unavailable", extra={"error": str(exc)})
            self.holder = None
        else:
            if holder == self.candidate:
                self._leader_until = started + self.ttl_s - self.interval_s
            elif holder != self.holder:
                log.info("reconciler on standby", extra={"leader": holder, "candidate": self.candidate})
            self.holder = holder
        self._note_change()
        return self.leading()

    def _note_change(self) -> None:
        leading = self.leading()
        if leading and not self._was_leading:
            log.info(
                "reconciler leadership acquired", extra={"candidate": self.candidate, "ttl_s": self.ttl_s}
            )
            self.on_elected()
        elif self._was_leading and not leading:
            log.warning(
                "reconciler leadership lost", extra={"candidate": self.candidate, "leader": self.holder}
            )
        self._was_leading = leading

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="leader-election", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.campaign_once()
            except Exception:  # never let the thread die: a dead election is a silent standby
                log.exception("leader election round failed")
            self._stop.wait(self.interval_s if self.leading() else min(self.interval_s, STANDBY_RETRY_S))

    def stop(self) -> None:
        """Stop campaigning and resign (the caller has stopped the work the leadership guards)."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=self.ttl_s + 10)
        was_leading = self.leading()
        self._leader_until = 0.0
        self._was_leading = False
        try:
            self.leadership.resign()
        except StoreUnavailable as exc:
            log.warning(
                "leader election: could not resign; the claim lapses after its TTL", extra={"error": str(exc)}
            )
            return
        if was_leading:
            log.info("reconciler leadership released", extra={"candidate": self.candidate})
