"""Converts a ledger of the first layout (`admitted` and `queue` inside `/ledger/<org>`) to the per-job keys
of quotas/ledger.py on first touch, so a store written by an earlier release keeps its quota accounting.

Several servers may find the same old ledger at once. Every write of the conversion is conditional on the old
ledger being unchanged and derived from it alone, so concurrent conversions write the same keys, and the new
ledger document, written last, ends them: a conversion that finds it stops. The per-job keys (and each queued
job's `queue_key`) go in transactions of at most MAX_TXN_OPS (etcd's limit). Servers of the earlier release
cannot read the new layout: upgrade every replica of a shared store together.
"""

from platform_services.errors import ApiError
from platform_services.jobs import states
from platform_services.jobs.keys import job_key
from platform_services.quotas import ledger as layout
from platform_services.quotas.model import usage
from platform_services.store import Compare, Item, Put, Store
from platform_services.store.base import MAX_TXN_OPS

MAX_ATTEMPTS = 50


def read_ledger(store: Store, org: str) -> Item | None:
    """The org's ledger in the current layout (converting an old one first); None when the org is unknown."""
    for _ in range(MAX_ATTEMPTS):
        item = store.get(layout.ledger_key(org))
        if item is None or item.value.get("version") == layout.VERSION:
            return item
        convert(store, org, item)
    raise ApiError(503, "Busy", f"the ledger of org {org!r} is being converted; retry")


def convert(store: Store, org: str, item: Item) -> bool:
    """One attempt; False when the old ledger changed meanwhile (read it again: it may be converted)."""
    old = item.value
    writes: list[tuple[list[Compare], list[Put]]] = [
        ([], [Put(layout.admitted_key(org, name), entry)]) for name, entry in old["admitted"].items()
    ]
    queued = 0
    for seq, name in enumerate(old["queue"], 1):
        job = store.get(job_key(org, name))
        if job is None or job.value["state"] != states.ENQUEUED:
            continue  # the old layout dropped such names lazily
        key = layout.queue_key(org, seq, name)
        writes.append(([], [Put(key, {"job_name": name})]))
        if job.value.get("queue_key") != key:
            writes.append(
                ([Compare(job.key, job.mod_revision)], [Put(job.key, {**job.value, "queue_key": key})])
            )
        queued += 1
    ledger = layout.new_ledger(old["limits"])
    ledger.update(used=usage(old["admitted"]), seq=len(old["queue"]), queued=queued)
    final = [Put(item.key, ledger)] + ([Put(layout.queued_marker(org), {})] if queued else [])

    guard = Compare(item.key, item.mod_revision)
    compares, puts = [guard], []
    for more_compares, more_puts in writes:
        if (
            len(compares) + len(more_compares) > MAX_TXN_OPS
            or len(puts) + len(more_puts) + len(final) > MAX_TXN_OPS
        ):
            if not store.commit(compares, puts):
                return False
            compares, puts = [guard], []
        compares += more_compares
        puts += more_puts
    return store.commit(compares, puts + final)
