"""Job service benchmark (a script, not a test): signed submit throughput and latency of the real HTTP service
on the SQLite store and on the etcd store, with baselines measured in the same run.

For each store it starts `python -m platform_services serve` (API only: jobs are admitted, never started, so
the figures are the API's and the store's), makes an org with unlimited quota and a user key, then per
concurrency C (threads, each its own SigV4-signing SDK client and keep-alive connection):

  submit     N signed POST /cloud_ml/v1/train (unique names): jobs/s, p50/p99 latency
  healthz    N unauthenticated GET /healthz on the same server: the no-op baseline (submit/no-op ratio)

and once, for etcd, the raw etcd put (one /v3/kv/put through the gRPC gateway with the same client
certificate, sequential and at C) as the store's own floor: the ratio says what a submission costs in etcd
round trips. Server RSS after the run. Every loop is bounded by its count and by --max-seconds.

etcd is a throwaway local etcd 3.4 (mutual TLS, data in a temporary directory, /usr/bin/etcd), or the
platform's cluster with --etcd-endpoints-file (the role's consumer endpoints.json; keys go under a unique
prefix, left behind for the cluster's compaction).

  .venv/bin/python benchmarks/job_service_bench.py [--count 300] [--clients 1,8,32] [--max-seconds 30]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from platform_services.sdk import CloudMLClient  # noqa: E402
from platform_services.settings import Settings  # noqa: E402
from platform_services.store.etcd import EtcdClientConfig  # noqa: E402
from platform_services.store.etcd_local import LocalEtcd  # noqa: E402


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


class Phase:
    """N calls spread over C threads; each thread makes its own client; stops early at the deadline."""

    def __init__(self, count: int, clients: int, max_seconds: float):
        self.count, self.clients, self.max_seconds = count, clients, max_seconds
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.elapsed = 0.0

    def run(self, make_client, call) -> Phase:
        share, extra = divmod(self.count, self.clients)
        per_thread = [share + (i < extra) for i in range(self.clients)]
        deadline = time.monotonic() + self.max_seconds
        lock = threading.Lock()
        start = threading.Barrier(self.clients + 1)

        def worker(n: int) -> None:
            client = make_client()
            own, errors = [], []
            start.wait()
            for i in range(per_thread[n]):
                if time.monotonic() > deadline:
                    break
                began = time.perf_counter()
                try:
                    call(client, f"{n}-{i}")
                except Exception as exc:  # a benchmark reports failures, it does not stop on them
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])
                    continue
                own.append(time.perf_counter() - began)
            with lock:
                self.latencies += own
                self.errors += errors

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(self.clients)]
        for thread in threads:
            thread.start()
        start.wait()
        began = time.perf_counter()
        for thread in threads:
            thread.join()
        self.elapsed = time.perf_counter() - began
        return self

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def p(self, q: float) -> float:
        return percentile(sorted(self.latencies), q) if self.latencies else float("nan")

    def line(self, label: str) -> str:
        failed = f"  {len(self.errors)} failed (first: {self.errors[0]})" if self.errors else ""
        return (
            f"    {label:<9} C={self.clients:<3} {len(self.latencies):>5} in {self.elapsed:6.2f} s "
            f"{self.rate:8.1f}/s  p50 {self.p(0.50):7.2f} ms  p99 {self.p(0.99):7.2f} ms{failed}"
        )


class ServiceProcess:
    """`python -m platform_services serve` on an ephemeral 127.0.0.1 port (a bound socket handed over)."""

    def __init__(self, data_dir: Path, settings: dict[str, str]):
        data_dir.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "CLOUDML_SERVER_KEY": Fernet.generate_key().decode(),
            "CLOUDML_DATA_DIR": str(data_dir),
            "CLOUDML_RUNNER_ENABLED": "false",
            **{f"CLOUDML_{k.upper()}": str(v) for k, v in settings.items()},
        }
        Settings.from_env(self.env)  # fail here, with the setting named, rather than in the child
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.log = data_dir / "server.log"
        admin = subprocess.run(
            [sys.executable, "-m", "platform_services", "create-admin"],
            env=self.env,
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
        self.admin = json.loads(admin.stdout)
        with self.log.open("a") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "platform_services", "serve", "--fd", str(self.sock.fileno())],
                env=self.env,
                cwd=REPO,
                pass_fds=(self.sock.fileno(),),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not start:\n{self.log.read_text()[-2000:]}")

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.sock.close()


def bench_store(name: str, server: ServiceProcess, args) -> dict[int, tuple[Phase, Phase]]:
    admin = CloudMLClient(server.url, server.admin["access_key"], server.admin["secret_key"])

    def fresh_org():
        """Each phase gets its own org: an org's ledger grows with its admitted jobs, and one org's
        submissions are serialised within a server, so phases must not inherit each other's jobs."""
        org = "bench-" + uuid.uuid4().hex[:8]
        admin.create_org(org)
        key = admin.create_key(org)
        return lambda: CloudMLClient(server.url, key["access_key"], key["secret_key"])

    def submit(client, tag):
        client.submit_train_job(
            {
                "job_name": f"b-{tag}-{uuid.uuid4().hex[:6]}",
                "module_name": "trainer.task",
                "trainer_uri": str(REPO / "platform_services" / "examples" / "linear_regression"),
                "cpu_limit": "0.1",
                "memory_limit": "64M",
            }
        )

    def healthz(client, _tag):
        client.get(server.url + "/healthz").raise_for_status()

    Phase(min(20, args.count), 1, args.max_seconds).run(fresh_org(), submit)  # warm-up
    results = {}
    print(f"  {name}: {server.url} (one org per phase, unlimited quota)")
    for clients in args.clients:
        noop = Phase(args.count, clients, args.max_seconds).run(httpx.Client, healthz)
        sub = Phase(args.count, clients, args.max_seconds).run(fresh_org(), submit)
        results[clients] = (sub, noop)
        print(sub.line("submit"))
        print(noop.line("healthz"))
        print(f"    {'':<9} submit/no-op throughput {sub.rate / noop.rate:6.1%}" if noop.rate else "")
    print(f"    server RSS {server.rss_mib():.0f} MiB")
    return results


def bench_raw_etcd_put(config: EtcdClientConfig, prefix: str, args) -> dict[int, Phase]:
    context = ssl.create_default_context(cafile=str(config.ca))
    context.load_cert_chain(str(config.cert), str(config.key))
    url = config.endpoints[0].rstrip("/") + "/v3/kv/put"
    value = base64.b64encode(os.urandom(1024)).decode()  # about a job document's size

    def make_client():
        return httpx.Client(verify=context, timeout=10)

    def put(client, tag):
        key = base64.b64encode(f"{prefix}/raw/{tag}".encode()).decode()
        client.post(url, json={"key": key, "value": value}).raise_for_status()

    Phase(20, 1, args.max_seconds).run(make_client, put)
    print(f"  raw etcd put (gRPC gateway, mutual TLS, 1 KiB): {config.endpoints[0]}")
    results = {}
    for clients in args.clients:
        results[clients] = Phase(args.count, clients, args.max_seconds).run(make_client, put)
        print(results[clients].line("put"))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=300, help="calls per phase (default 300)")
    parser.add_argument("--clients", default="1,8,32", help="concurrencies, comma-separated (default 1,8,32)")
    parser.add_argument("--max-seconds", type=float, default=30, help="upper bound per phase (default 30)")
    parser.add_argument("--etcd-endpoints-file", type=Path, help="use this cluster instead of a local etcd")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    args.clients = [int(c) for c in args.clients.split(",")]

    work = Path(tempfile.mkdtemp(prefix="job-service-bench-"))
    local_etcd = None
    servers: list[ServiceProcess] = []
    try:
        if args.etcd_endpoints_file:
            etcd_settings = {"etcd_endpoints_file": args.etcd_endpoints_file}
        else:
            local_etcd = LocalEtcd(work / "etcd").start()
            config = local_etcd.client_config
            etcd_settings = {
                "etcd_endpoints": ",".join(config.endpoints),
                "etcd_ca": config.ca,
                "etcd_cert": config.cert,
                "etcd_key": config.key,
            }
        prefix = f"/bench-{uuid.uuid4().hex[:8]}"
        etcd_settings.update(store="etcd", etcd_prefix=prefix)
        any_key = {"CLOUDML_SERVER_KEY": Fernet.generate_key().decode()}
        etcd_config = Settings.from_env(any_key, **etcd_settings).etcd_client_config()
        print(
            f"job service benchmark: {args.count} calls per phase, clients {args.clients}, "
            f"bound {args.max_seconds:.0f} s per phase, {os.cpu_count()} CPUs, "
            f"etcd {'local 3.4 (tmp data dir)' if local_etcd else etcd_config.endpoints}"
        )
        figures = {}
        if not args.skip_sqlite:
            servers.append(ServiceProcess(work / "sqlite", {"store": "sqlite"}))
            figures["sqlite"] = bench_store("sqlite", servers[-1], args)
            servers.pop().stop()
        servers.append(ServiceProcess(work / "etcd-server", etcd_settings))
        figures["etcd"] = bench_store("etcd", servers[-1], args)
        servers.pop().stop()
        raw = bench_raw_etcd_put(etcd_config, prefix, args)

        print("  summary (p50 / p99 ms, jobs/s; x = multiple of the raw etcd put at the same concurrency)")
        for clients in args.clients:
            row = [f"    C={clients:<3}"]
            for store, results in figures.items():
                sub = results[clients][0]
                row.append(f"{store} {sub.p(0.5):6.2f} / {sub.p(0.99):6.2f} {sub.rate:7.1f}/s")
            put = raw[clients]
            etcd_sub = figures["etcd"][clients][0]
            row.append(f"etcd put {put.p(0.5):5.2f} / {put.p(0.99):5.2f} ms")
            if put.latencies and etcd_sub.latencies:
                row.append(f"etcd submit = {etcd_sub.p(0.5) / put.p(0.5):4.1f}x put (p50)")
            print("  ".join(row))
    finally:
        for server in servers:
            server.stop()
        if local_etcd:
            local_etcd.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
