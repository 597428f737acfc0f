"""An org's admission ledger in the store, laid out so that admitting or releasing a job costs the same
whatever the number of jobs the org has admitted or queued.

- `/ledger/<org>`: limits, `used` (integer totals per category x resource), `seq` (the last queue position
  handed out) and `queued` (how many jobs wait). Every change of the org's quota state rewrites this small
  document, and every such commit compares its mod_revision, so changes to one org are serialised and each
  decides on exact totals.
- `/quota-admitted/<org>/<job>`: one per admitted job, its category and demand (what release subtracts).
- `/quota-queue/<org>/<seq:020d>-<job>`: one per enqueued job; key order is FIFO order.
- `/quota-queued/<org>`: present while the org's queue is not empty, so the reconciler finds the orgs with
  waiting jobs in one read.

The per-job keys change only in the commit that also rewrites the ledger, so `used` always equals the sum of
the admitted entries. Release deletes an admitted entry on the condition that it still exists as read: only
one transaction can do it. Ledgers of the earlier layout (admitted entries and queue inside the document)
are converted on first touch (jobs/ledger_migration.py).
"""

from __future__ import annotations

from platform_services.quotas import model as quota_model
from platform_services.store import Compare, Delete, Item, Put, Store
from platform_services.store.base import copy_value

VERSION = 2
QUEUED_MARKERS = "/quota-queued/"


def ledger_key(org: str) -> str:
    return f"/ledger/{org}"


def admitted_key(org: str, name: str) -> str:
    return f"/quota-admitted/{org}/{name}"


def queue_prefix(org: str) -> str:
    return f"/quota-queue/{org}/"


def queue_key(org: str, seq: int, name: str) -> str:
    return f"{queue_prefix(org)}{seq:020d}-{name}"


def queued_marker(org: str) -> str:
    return QUEUED_MARKERS + org


def new_ledger(limits: dict[str, int]) -> dict:
    return {"version": VERSION, "limits": limits, "used": quota_model.no_usage(), "seq": 0, "queued": 0}


class LedgerChange:
    """One transaction's changes to an org's quota state: the ledger as read (`item`), the working copy
    (`ledger`), and the compares and operations that go with it."""

    def __init__(self, org: str, item: Item):
        self.org = org
        self.item = item
        self.ledger = copy_value(item.value)
        self.compares: list[Compare] = [Compare(item.key, item.mod_revision)]
        self.ops: list[Put | Delete] = []
        self.dequeued: set[str] = set()

    def shortfall(self, category: str, demand: dict[str, int]) -> str | None:
        return quota_model.shortfall(self.ledger["limits"], self.ledger["used"], category, demand)

    def admit(self, name: str, category: str, demand: dict[str, int]) -> None:
        quota_model.add_usage(self.ledger["used"], category, demand)
        self.ops.append(Put(admitted_key(self.org, name), {"category": category, "demand": demand}))

    def release(self, store: Store, name: str) -> None:
        """Give back what `name` holds; nothing when it holds nothing (then nothing is compared either)."""
        entry = store.get(admitted_key(self.org, name))
        if entry is None:
            return
        self.compares.append(Compare(entry.key, entry.mod_revision))
        self.ops.append(Delete(entry.key))
        quota_model.add_usage(self.ledger["used"], entry.value["category"], entry.value["demand"], -1)

    def enqueue(self, name: str) -> str:
        """Append `name` to the queue; its queue key (kept in the job, to dequeue it by)."""
        self.ledger["seq"] += 1
        self.ledger["queued"] += 1
        key = queue_key(self.org, self.ledger["seq"], name)
        self.ops.append(Put(key, {"job_name": name}))
        if self.ledger["queued"] == 1:
            self.ops.append(Put(queued_marker(self.org), {}))
        return key

    def dequeue(self, key: str) -> None:
        self.ledger["queued"] -= 1
        self.dequeued.add(key)
        self.ops.append(Delete(key))
        if self.ledger["queued"] == 0:
            self.ops.append(Delete(queued_marker(self.org)))

    def changed(self) -> bool:
        return bool(self.ops) or self.ledger != self.item.value

    def commit(self, store: Store, compares: list[Compare], ops: list[Put | Delete]) -> int:
        """Commit this change with the caller's own compares and ops, the ledger last: the new revision (also
        the ledger's), 0 when a compare failed."""
        return store.commit(self.compares + compares, [*ops, *self.ops, Put(self.item.key, self.ledger)])
