"""Fixtures: the real server as a subprocess on 127.0.0.1 (an ephemeral port bound here and handed over as a
file descriptor), clients signed with SigV4, and orgs made per test."""

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from platform_services.sdk import CloudMLClient
from platform_services.store.etcd_local import ETCD_BINARY, LocalEtcd, etcd_binary

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_TRAINER = REPO / "platform_services" / "examples" / "linear_regression"


class Server:
    """One server process over a data dir; can be killed (SIGKILL) and started again on the same port."""

    def __init__(self, data_dir: Path, **settings):
        self.data_dir = data_dir
        self.env = {
            **os.environ,
            "CLOUDML_SERVER_KEY": Fernet.generate_key().decode(),
            "CLOUDML_DATA_DIR": str(data_dir),
            "CLOUDML_STOP_GRACE_S": "1",
            **{f"CLOUDML_{k.upper()}": str(v) for k, v in settings.items()},
        }
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir / "server.log"
        self.proc: subprocess.Popen | None = None
        admin = subprocess.run(
            [sys.executable, "-m", "platform_services", "create-admin"],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO,
        )
        self.admin_key = json.loads(admin.stdout)

    def start(self) -> None:
        fd = self.sock.fileno()
        with self.log.open("a") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "platform_services", "serve", "--fd", str(fd)],
                env=self.env,
                cwd=REPO,
                pass_fds=(fd,),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"server did not start:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.sock.close()

    def client(self, key: dict) -> CloudMLClient:
        return CloudMLClient(self.url, key["access_key"], key["secret_key"])


def _server(tmp_path_factory, name: str, **settings):
    server = Server(tmp_path_factory.mktemp(name), **settings)
    server.start()
    return server


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


def wait_for(predicate, timeout: float = 20, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting; last value {value!r}")
        time.sleep(interval)
