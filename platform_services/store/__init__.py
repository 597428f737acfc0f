"""One storage interface (a versioned key-value store with compare-and-swap transactions) and its backends."""

from platform_services.store.base import Compare, Delete, Item, Put, Store, StoreUnavailable

__all__ = ["Compare", "Delete", "Item", "Put", "Store", "StoreUnavailable", "open_store"]


def open_store(settings) -> Store:
    if settings.store == "sqlite":
        from platform_services.store.sqlite import SqliteStore

        return SqliteStore(settings.database)
    if settings.store == "etcd":
        from platform_services.store.etcd import EtcdStore

        return EtcdStore(settings.etcd_client_config(), settings.etcd_prefix, settings.etcd_timeout_s)
    raise ValueError(f"unknown store {settings.store!r}")
