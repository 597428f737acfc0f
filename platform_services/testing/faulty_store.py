"""A store wrapper that fails chosen commits, for tests of what happens when the store goes away mid-way.

In-process only: it wraps a real store (SQLite or etcd) handed to the service objects, so a test can make,
say, the second transaction of a queue drain fail without stopping the store for everyone else.
"""

from platform_services.store.base import StoreUnavailable


class FailingCommits:
    """Passes every call through to `store`; `fail_nth_commit(n)` makes the n-th commit from now raise
    StoreUnavailable (applying nothing) once. `commits` counts the commits that went through."""

    def __init__(self, store):
        self._store = store
        self.commits = 0
        self._fail_at: int | None = None

    def fail_nth_commit(self, n: int) -> None:
        self._fail_at = self.commits + n

    def commit(self, compares, ops):
        if self._fail_at is not None and self.commits + 1 == self._fail_at:
            self._fail_at = None
            raise StoreUnavailable("injected failure (FailingCommits)")
        applied = self._store.commit(compares, ops)
        self.commits += 1
        return applied

    def __getattr__(self, name):
        return getattr(self._store, name)
