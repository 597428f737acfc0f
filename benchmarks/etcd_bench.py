"""etcd benchmark (a script, not a test): write throughput and latency of a converged etcd cluster, the
reference the job service's etcd store is compared with.

  sequential puts     one client, one keep-alive HTTPS connection (grpc-gateway /v3/kv/put), N puts:
                      puts/s and latency p50/p95/p99/max
  concurrent puts     C clients (threads), a connection each, N puts in all: puts/s and latency
  linearizable reads  one client, N/4 ranges of single keys
  etcdctl check perf  optional (--check-perf): etcd's own 60 s workload, run on the first member

The client is the consumer certificate the role writes (<etcd_credentials_dir>/client/endpoints.json), as the
job service uses it. Every loop is bounded by its count and by --max-seconds; the benchmark's keys are deleted
afterwards.

Run against the lab (root, lab up, etcd.yml converged):
  PLATFORM_LAB_ID=<id> .venv/bin/python benchmarks/etcd_bench.py [--puts 2000] [--clients 8] [--check-perf]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import ssl
import statistics
import subprocess
import threading
import time
import uuid
from base64 import b64encode
from pathlib import Path
from urllib.parse import urlsplit

from platformctl.lab import config as lab_config
from platformctl.lab import nodes
from platformctl.paths import STACKS_DIR


def default_endpoints_file() -> Path:
    lab_id = lab_config.default_lab_id()
    return STACKS_DIR / "lab" / "credentials" / lab_id / "etcd" / "client" / "endpoints.json"


class Client:
    """One keep-alive HTTPS connection to one member's gRPC gateway, with the consumer certificate."""

    def __init__(self, url: str, context: ssl.SSLContext):
        parts = urlsplit(url)
        self.connection = http.client.HTTPSConnection(parts.hostname, parts.port, context=context, timeout=10)

    def call(self, path: str, body: dict[str, object]) -> dict[str, object]:
        headers = {"Content-Type": "application/json"}
        self.connection.request("POST", path, body=json.dumps(body), headers=headers)
        response = self.connection.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"{path}: HTTP {response.status} {data[:200]!r}")
        return json.loads(data)

    def put(self, key: str, value: bytes) -> None:
        self.call("/v3/kv/put", {"key": b64encode(key.encode()).decode(), "value": b64encode(value).decode()})

    def get(self, key: str) -> None:
        self.call("/v3/kv/range", {"key": b64encode(key.encode()).decode()})

    def delete_prefix(self, prefix: str) -> None:
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        self.call(
            "/v3/kv/deleterange",
            {"key": b64encode(prefix.encode()).decode(), "range_end": b64encode(end.encode()).decode()},
        )


def percentiles(latencies: list[float]) -> str:
    if not latencies:
        return "no samples"
    ordered = sorted(latencies)
    pick = [ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000 for q in (0.50, 0.95, 0.99)]
    return (
        f"p50 {pick[0]:.2f} ms, p95 {pick[1]:.2f} ms, p99 {pick[2]:.2f} ms, "
        f"max {ordered[-1] * 1000:.2f} ms, mean {statistics.fmean(ordered) * 1000:.2f} ms"
    )


def timed_loop(client: Client, count: int, deadline: float, op, latencies: list[float]) -> int:
    done = 0
    for _ in range(count):
        if time.monotonic() > deadline:
            break
        started = time.perf_counter()
        op(client, done)
        latencies.append(time.perf_counter() - started)
        done += 1
    return done


def main() -> int:
    parser = argparse.ArgumentParser(description="etcd write throughput and latency (lab or any stack)")
    parser.add_argument(
        "--endpoints-file",
        type=Path,
        default=None,
        help="consumer endpoints.json (default: this lab's, from PLATFORM_LAB_ID)",
    )
    parser.add_argument("--puts", type=int, default=2000, help="puts per phase (default 2000)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--value-size", type=int, default=256, help="value bytes (default 256)")
    parser.add_argument("--max-seconds", type=float, default=60, help="upper bound per phase (default 60)")
    parser.add_argument("--check-perf", action="store_true", help="also run `etcdctl check perf` on a member")
    args = parser.parse_args()

    path = args.endpoints_file or default_endpoints_file()
    endpoints = json.loads(path.read_text())
    context = ssl.create_default_context(cafile=endpoints["ca"])
    context.load_cert_chain(endpoints["cert"], endpoints["key"])
    url = endpoints["endpoints"][0]
    prefix = f"/bench/{uuid.uuid4().hex[:8]}/"
    value = os.urandom(args.value_size)
    print(
        f"etcd benchmark: cluster {endpoints['cluster']}, {len(endpoints['endpoints'])} members, "
        f"client -> {url} (gRPC gateway, mutual TLS), values {args.value_size} B"
    )

    # Sequential puts
    latencies: list[float] = []
    client = Client(url, context)
    client.put(prefix + "warmup", value)
    started = time.perf_counter()
    done = timed_loop(
        client,
        args.puts,
        time.monotonic() + args.max_seconds,
        lambda c, i: c.put(f"{prefix}seq/{i:08d}", value),
        latencies,
    )
    elapsed = time.perf_counter() - started
    print(
        f"  sequential puts     {done} in {elapsed:.2f} s = {done / elapsed:8.1f} puts/s; "
        f"{percentiles(latencies)}"
    )

    # Concurrent puts
    per_client = max(1, args.puts // args.clients)
    results: list[list[float]] = [[] for _ in range(args.clients)]
    counts = [0] * args.clients
    deadline = time.monotonic() + args.max_seconds

    def worker(n: int) -> None:
        own = Client(endpoints["endpoints"][n % len(endpoints["endpoints"])], context)
        counts[n] = timed_loop(
            own, per_client, deadline, lambda c, i: c.put(f"{prefix}conc/{n:03d}/{i:08d}", value), results[n]
        )

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(args.clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    total = sum(counts)
    every = [x for r in results for x in r]
    print(
        f"  concurrent puts x{args.clients:<3} {total} in {elapsed:.2f} s = {total / elapsed:8.1f} puts/s; "
        f"{percentiles(every)}"
    )

    # Linearizable reads
    latencies = []
    started = time.perf_counter()
    done = timed_loop(
        client,
        max(1, args.puts // 4),
        time.monotonic() + args.max_seconds,
        lambda c, i: c.get(f"{prefix}seq/{i:08d}"),
        latencies,
    )
    elapsed = time.perf_counter() - started
    print(
        f"  linearizable reads  {done} in {elapsed:.2f} s = {done / elapsed:8.1f} reads/s; "
        f"{percentiles(latencies)}"
    )

    client.delete_prefix(prefix)

    if args.check_perf:
        lab = lab_config.load(lab_config.default_lab_id())
        if lab is None:
            print("  etcdctl check perf  skipped: no lab (it runs on a member over the lab's SSH)")
        else:
            first = sorted(endpoints["members"])[0]
            command = (
                "set -a; . /etc/etcd/etcdctl.env; set +a; "
                "timeout 120 etcdctl check perf --load s --auto-compact --auto-defrag 2>&1 | tail -6"
            )
            out = subprocess.run(
                nodes.ssh_command(lab, first, command),
                capture_output=True,
                text=True,
                timeout=150,
                check=False,
            )
            print(f"  etcdctl check perf (on {first}, load s):")
            for line in out.stdout.strip().splitlines():
                print(f"    {line.strip()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
