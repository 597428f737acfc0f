"""Fixtures: the real server as a subprocess on 127.0.0.1 (`LocalServer`, shared with the benchmarks), a real
etcd (`LocalEtcd`), clients signed with SigV4, and orgs made per test."""

import asyncio
import socket
import time
import uuid
from pathlib import Path

import pytest

from platform_services.quotas import ledger as layout
from platform_services.quotas.model import default_limits
from platform_services.store import Put
from platform_services.store.etcd import EtcdStore
from platform_services.store.etcd_local import ETCD_BINARY, LocalEtcd, etcd_binary
from platform_services.store.sqlite import SqliteStore
from platform_services.testing.server import LocalServer as Server

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_TRAINER = REPO / "platform_services" / "examples" / "linear_regression"


def _server(tmp_path_factory, name: str, **settings):
    return Server(tmp_path_factory.mktemp(name), **settings).start()


@pytest.fixture(scope="session")
def api_server(tmp_path_factory):
    """API only: jobs are admitted but never started, so quota state holds still while a test looks."""
    server = _server(tmp_path_factory, "api", runner_enabled="false")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def run_server(tmp_path_factory):
    """The embedded default: jobs run as local processes."""
    server = _server(tmp_path_factory, "run", reconcile_interval_s="0.05")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def etcd(tmp_path_factory):
    """A real etcd 3.4 on 127.0.0.1 with mutual TLS (a throwaway CA), shared by the session: every test and
    server uses its own key prefix."""
    if etcd_binary() is None:
        pytest.skip(
            f"etcd is not installed ({ETCD_BINARY}: apt-get install etcd-server): etcd store untested"
        )
    server = LocalEtcd(tmp_path_factory.mktemp("etcd")).start()
    yield server
    server.stop()


def etcd_settings(etcd: LocalEtcd, prefix: str) -> dict:
    config = etcd.client_config
    return {
        "store": "etcd",
        "etcd_endpoints": ",".join(config.endpoints),
        "etcd_ca": config.ca,
        "etcd_cert": config.cert,
        "etcd_key": config.key,
        "etcd_prefix": prefix,
    }


@pytest.fixture(scope="session")
def etcd_api_server(tmp_path_factory, etcd):
    """API only, on the etcd store."""
    server = _server(tmp_path_factory, "api-etcd", runner_enabled="false", **etcd_settings(etcd, "/api"))
    yield server
    server.stop()


def store_handles(request, tmp_path, name: str, **etcd_options):
    """Yields a function that opens separate handles on one fresh store (SQLite file, or a fresh key prefix on
    the session's etcd), as separate servers would (own connection, own client); closes them afterwards."""
    if request.param == "sqlite":

        def opener():
            return SqliteStore(tmp_path / "db.sqlite")
    else:
        etcd, prefix = request.getfixturevalue("etcd"), f"/{name}-{uuid.uuid4().hex[:8]}"

        def opener():
            return EtcdStore(etcd.client_config, prefix=prefix, **etcd_options)

    opened = []

    def open_handle():
        opened.append(opener())
        return opened[-1]

    yield open_handle
    for handle in opened:
        handle.close()


@pytest.fixture(params=["sqlite", "etcd"])
def open_store(request, tmp_path):
    """In-process tests: separate handles on one fresh store of each kind."""
    yield from store_handles(request, tmp_path, "ledger")


def ledger_org(store, **limits) -> str:
    """A new org in `store`: just its ledger, with `limits` (the rest unlimited)."""
    org = "org-" + uuid.uuid4().hex[:8]
    assert store.commit([], [Put(layout.ledger_key(org), layout.new_ledger({**default_limits(), **limits}))])
    return org


class Tenant:
    def __init__(self, server: Server, quota: dict | None = None):
        self.admin = server.client(server.admin_key)
        self.org_id = "org-" + uuid.uuid4().hex[:10]
        self.admin.create_org(self.org_id, quota)
        self.key = self.admin.create_key(self.org_id)
        self.client = server.client(self.key)


@pytest.fixture
def tenant_factory():
    return Tenant


def job(name: str, **fields) -> dict:
    return {
        "job_name": name,
        "module_name": "trainer.task",
        "trainer_uri": str(EXAMPLE_TRAINER),
        "cpu_limit": "0.5",
        "memory_limit": "256M",
        **fields,
    }


def submit_in_turn(jobs, org: str, specs) -> list[tuple[dict, bool]]:
    """`JobService.submit` (a coroutine: the server's event loop awaits it) for each spec, one after another,
    on one event loop: each answer is in before the next is submitted."""

    async def in_turn():
        return [await jobs.submit(org, spec) for spec in specs]

    return asyncio.run(in_turn())


def submit_one(jobs, org: str, spec) -> tuple[dict, bool]:
    return submit_in_turn(jobs, org, [spec])[0]


async def until(predicate, timeout: float = 20, interval: float = 0.01):
    """`wait_for` for a test running on an event loop: polls without blocking the loop."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting; last value {value!r}")
        await asyncio.sleep(interval)
    return value


def wait_for(predicate, timeout: float = 20, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting; last value {value!r}")
        time.sleep(interval)


def dead_url() -> str:
    """An https:// URL on 127.0.0.1 where nothing listens (a port bound, then closed again)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"https://127.0.0.1:{sock.getsockname()[1]}"
