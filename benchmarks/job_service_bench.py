"""Job service benchmark (a script, not a test): the issue's figures for the real HTTP service, each printed
next to its target, with baselines measured in the same run.

Per store (SQLite, etcd), `python -m platform_services serve` API-only (jobs admitted, never started) with a
user key of an org with unlimited quota; per concurrency C (threads, each its own SigV4-signing SDK client and
keep-alive connection; each concurrency its own org):

  submit     N signed POST /cloud_ml/v1/train: jobs/s, p50/p99 latency
  no-op      N unauthenticated GET /healthz on the same server, alternating with the submits in --rounds
             slices: the baseline of the ratio
  CPU        the server's CPU time per call (all threads, from /proc): the figure least moved by other
             load on shared cores, so the one to compare across runs
  RSS        the server's resident memory after its phases

and, for etcd, the raw etcd put (/v3/kv/put through the gRPC gateway, same client certificate) as the store's
floor. Then start latency: a server on SQLite with the local backend (jobs really start; shipped settings:
a submission wakes the reconciler, it does not wait for the next interval) takes --start-jobs jobs of
1 master + 1 ps + 2 workers, one at a time, running a trainer that writes the time it started and sleeps;
per job: submit -> `running` in the service's own records (the event's timestamp), and submit -> all four
trainer processes started (their own timestamps). Each job is deleted once measured.

Targets: submit >= 50% of the no-op's throughput; p99 <= 50 ms at 32 clients on SQLite; start p50 <= 500 ms;
RSS <= 200 MB. A missed target is reported, not an error: the exit status is 1 only when requests failed.
Every loop is bounded by its count and by --max-seconds.

  .venv/bin/python benchmarks/job_service_bench.py [--count 300] [--clients 1,8,32] [--rounds 3]
      [--start-jobs 10] [--max-seconds 30] [--etcd-endpoints-file FILE] [--skip-sqlite] [--skip-etcd]
"""

from __future__ import annotations

import argparse
import base64
import math
import os
import shutil
import ssl
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from platform_services.settings import Settings  # noqa: E402
from platform_services.store.etcd import EtcdClientConfig  # noqa: E402
from platform_services.store.etcd_local import LocalEtcd  # noqa: E402
from platform_services.testing.server import LocalServer  # noqa: E402

TARGET_RATIO, TARGET_P99_MS, TARGET_START_MS, TARGET_RSS_MB = 0.5, 50.0, 500.0, 200.0
# The start-latency trainer: stamps the moment its code runs (in its working directory, written whole by a
# rename so that the benchmark never reads half of it), then sleeps until the job is deleted.
SLEEPER = """import os, time
with open("started.tmp", "w") as f:
    f.write(repr(time.time()))
os.replace("started.tmp", "started")
time.sleep(60)
"""


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(len(ordered) * q) - 1)] if ordered else float("nan")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


class Phase:
    """N calls spread over C threads; each thread makes its own client; stops early at the deadline."""

    def __init__(self, count: int, clients: int, max_seconds: float):
        self.count, self.clients, self.max_seconds = count, clients, max_seconds
        self.latencies: list[float] = []  # ms
        self.errors: list[str] = []
        self.elapsed = 0.0
        self.server_cpu = 0.0  # CPU seconds the server spent in this phase (all its threads)

    def run(self, make_client, call) -> Phase:
        share, extra = divmod(self.count, self.clients)
        deadline = time.monotonic() + self.max_seconds
        lock = threading.Lock()
        start = threading.Barrier(self.clients + 1)

        def worker(n: int) -> None:
            client = make_client()
            own, errors = [], []
            start.wait()
            for i in range(share + (n < extra)):
                if time.monotonic() > deadline:
                    break
                began = time.perf_counter()
                try:
                    call(client, f"{n}-{i}")
                except Exception as exc:  # a benchmark reports failures, it does not stop on them
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])
                    continue
                own.append((time.perf_counter() - began) * 1000)
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

    def add(self, other: Phase) -> Phase:
        self.count += other.count
        self.latencies += other.latencies
        self.errors += other.errors
        self.elapsed += other.elapsed
        self.server_cpu += other.server_cpu
        return self

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def p(self, q: float) -> float:
        return percentile(self.latencies, q)

    @property
    def cpu_ms(self) -> float:
        """Server CPU per completed call: unlike throughput, barely moved by other load on shared cores."""
        return self.server_cpu * 1000 / len(self.latencies) if self.latencies else float("nan")


def submit_body(tag: str, **fields) -> dict:
    return {
        "job_name": f"b-{tag}-{uuid.uuid4().hex[:6]}",
        "module_name": "trainer.task",
        "trainer_uri": str(REPO / "platform_services" / "examples" / "linear_regression"),
        "cpu_limit": "0.1",
        "memory_limit": "64M",
        **fields,
    }


def bench_store(name: str, server: LocalServer, args, errors: list[str]) -> list[tuple]:
    """Rows (store, C, submit phase, no-op phase), printed as they are measured."""
    admin = server.client(server.admin_key)

    def fresh_org():
        """Every phase starts from an org of its own, so phases do not contend for one ledger."""
        org = "bench-" + uuid.uuid4().hex[:8]
        admin.create_org(org)
        key = admin.create_key(org)
        return lambda: server.client(key)

    def submit(client, tag):
        client.submit_train_job(submit_body(tag))

    def healthz(client, _tag):
        client.get(server.url + "/healthz").raise_for_status()

    Phase(min(20, args.count), 1, args.max_seconds).run(fresh_org(), submit)  # warm-up
    rows = []
    for clients in args.clients:
        # The no-op and the submit phase alternate in --rounds slices, so that a change in the machine's load
        # (other processes on shared cores) weighs on both sides of the ratio alike.
        sub, noop = Phase(0, clients, 0), Phase(0, clients, 0)
        client_of_org = fresh_org()
        share = max(1, args.count // args.rounds)
        bound = args.max_seconds / args.rounds
        for _ in range(args.rounds):
            for total, make_client, call in ((noop, httpx.Client, healthz), (sub, client_of_org, submit)):
                before = server.cpu_s()
                phase = Phase(share, clients, bound).run(make_client, call)
                phase.server_cpu = server.cpu_s() - before
                total.add(phase)
        for phase, label in ((sub, "submit"), (noop, "no-op")):
            errors += [f"{name} {label} C={clients}: {e}" for e in phase.errors[:3]]
            if len(phase.latencies) < phase.count:
                errors.append(f"{name} {label} C={clients}: {len(phase.latencies)} of {phase.count} done")
        rows.append((name, clients, sub, noop))
        print(f"  {name:<6} C={clients:<3} submit {sub.rate:7.1f}/s  no-op {noop.rate:7.1f}/s", flush=True)
    return rows


def bench_raw_etcd_put(config: EtcdClientConfig, prefix: str, args) -> dict[int, Phase]:
    context = ssl.create_default_context(cafile=str(config.ca))
    context.load_cert_chain(str(config.cert), str(config.key))
    url = config.endpoints[0].rstrip("/") + "/v3/kv/put"
    value = base64.b64encode(os.urandom(1024)).decode()  # about a job document's size

    def put(client, tag):
        key = base64.b64encode(f"{prefix}/raw/{tag}".encode()).decode()
        client.post(url, json={"key": key, "value": value}).raise_for_status()

    def make_client():
        return httpx.Client(verify=context, timeout=10)

    Phase(20, 1, args.max_seconds).run(make_client, put)
    return {c: Phase(args.count, c, args.max_seconds).run(make_client, put) for c in args.clients}


def bench_start_latency(work: Path, args, errors: list[str]) -> tuple[list[float], list[float], float]:
    """(submit -> running per the service's records, submit -> 4 trainers started, server RSS MiB)."""
    package = work / "sleeper-trainer"
    (package / "sleeper").mkdir(parents=True)
    (package / "sleeper" / "__init__.py").write_text("")
    (package / "sleeper" / "task.py").write_text(SLEEPER)
    to_running, to_trainers = [], []
    with LocalServer(work / "start") as server:
        admin = server.client(server.admin_key)
        admin.create_org("start-bench")
        client = server.client(admin.create_key("start-bench"))
        deadline = time.monotonic() + args.max_seconds
        for i in range(args.start_jobs):
            if time.monotonic() > deadline:
                errors.append(f"start latency: {i} of {args.start_jobs} jobs measured in --max-seconds")
                break
            body = submit_body(f"start{i}", module_name="sleeper.task", trainer_uri=str(package))
            body.update(ps_count=1, worker_count=2)
            submitted = time.time()
            job = client.submit_train_job(body)
            name, started = job["job_name"], {}
            while time.monotonic() < deadline and len(started) < 4:
                job = client.describe_train_job(name)
                if job["state"] not in ("pending", "creating", "running"):
                    errors.append(f"start latency: job {name} is {job['state']}: {job.get('message')}")
                    break
                for replica in job["replicas"]:
                    stamp = Path(replica["dir"]) / "work" / "started"
                    if replica["name"] not in started and stamp.exists():
                        started[replica["name"]] = float(stamp.read_text())
                time.sleep(0.01)
            events = client.get_train_job_events(name)
            running = [e["time"] for e in events if e["type"] == "running"]
            if running and len(started) == 4:
                to_running.append((running[0] - submitted) * 1000)
                to_trainers.append((max(started.values()) - submitted) * 1000)
            client.delete_train_job(name)
        rss = server.rss_mib()
    return to_running, to_trainers, rss


def report(rows, raw: dict[int, Phase], start, rss: dict[str, float]) -> None:
    print(
        f"\n  submit vs no-op (targets: ratio >= {TARGET_RATIO:.0%}; SQLite p99 <= {TARGET_P99_MS:.0f} ms "
        "at 32 clients)"
    )
    print(
        f"  {'store':<6} {'C':>3} {'submit/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'no-op/s':>8} "
        f"{'no-op p50':>9} {'ratio':>6}  ratio  p99   server CPU ms/call submit no-op"
    )
    for store, clients, sub, noop in rows:
        ratio = sub.rate / noop.rate if noop.rate else float("nan")
        p99_target = verdict(sub.p(0.99) <= TARGET_P99_MS) if store == "sqlite" and clients == 32 else "-"
        print(
            f"  {store:<6} {clients:>3} {sub.rate:9.1f} {sub.p(0.5):7.2f} {sub.p(0.99):7.2f} "
            f"{noop.rate:8.1f} {noop.p(0.5):9.2f} {ratio:6.1%}  {verdict(ratio >= TARGET_RATIO)}   "
            f"{p99_target:<4}  {sub.cpu_ms:25.2f} {noop.cpu_ms:5.2f}"
        )
    if raw:
        print(
            "  raw etcd put (the store's floor): "
            + "  ".join(f"C={c} {p.rate:.0f}/s p50 {p.p(0.5):.2f} ms" for c, p in raw.items())
        )
    if start:
        to_running, to_trainers, _ = start
        print(
            f"\n  start latency, 1 master + 1 ps + 2 workers, {len(to_running)} jobs (target p50 <= "
            f"{TARGET_START_MS:.0f} ms)"
        )
        for label, values in (
            ("submit -> running (service record)", to_running),
            ("submit -> 4 trainers started", to_trainers),
        ):
            p50 = percentile(values, 0.5)
            print(
                f"  {label:<36} p50 {p50:7.1f}  p90 {percentile(values, 0.9):7.1f}  "
                f"max {max(values, default=float('nan')):7.1f} ms  {verdict(p50 <= TARGET_START_MS)}"
            )
    print(f"\n  server RSS (target <= {TARGET_RSS_MB:.0f} MB)")
    for name, mib in rss.items():
        print(f"  {name:<28} {mib * 1.048576:6.0f} MB  {verdict(mib * 1.048576 <= TARGET_RSS_MB)}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=300, help="calls per phase (default 300)")
    parser.add_argument("--clients", default="1,8,32", help="concurrencies, comma-separated (default 1,8,32)")
    parser.add_argument("--rounds", type=int, default=3, help="no-op/submit alternations per C (default 3)")
    parser.add_argument("--start-jobs", type=int, default=10, help="4-replica jobs started (default 10)")
    parser.add_argument("--max-seconds", type=float, default=30, help="upper bound per phase (default 30)")
    parser.add_argument("--etcd-endpoints-file", type=Path, help="use this cluster instead of a local etcd")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-etcd", action="store_true")
    args = parser.parse_args()
    args.clients = [int(c) for c in args.clients.split(",")]

    work = Path(tempfile.mkdtemp(prefix="job-service-bench-"))
    local_etcd = None
    rows, raw, rss, errors, start = [], {}, {}, [], None
    print(
        f"job service benchmark: {args.count} calls per phase, clients {args.clients}, {args.start_jobs} "
        f"start jobs, bound {args.max_seconds:.0f} s per phase, {os.cpu_count()} CPUs"
    )
    try:
        if not args.skip_sqlite:
            with LocalServer(work / "sqlite", store="sqlite", runner_enabled="false") as server:
                rows += bench_store("sqlite", server, args, errors)
                rss["sqlite API server"] = server.rss_mib()
        if not args.skip_etcd:
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
            prefix = f"/bench-{uuid.uuid4().hex[:8]}"  # on a real cluster: left to its compaction
            etcd_settings.update(store="etcd", etcd_prefix=prefix)
            with LocalServer(work / "etcd-server", runner_enabled="false", **etcd_settings) as server:
                rows += bench_store("etcd", server, args, errors)
                rss["etcd API server"] = server.rss_mib()
            raw = bench_raw_etcd_put(Settings.from_env(server.env).etcd_client_config(), prefix, args)
        if args.start_jobs:
            start = bench_start_latency(work, args, errors)
            rss["runner server (after starts)"] = start[2]
        report(rows, raw, start, rss)
    finally:
        if local_etcd:
            local_etcd.stop()
        shutil.rmtree(work, ignore_errors=True)
    for error in errors:
        print(f"  ERROR {error}")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
