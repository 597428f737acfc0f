"""benchmarks/job_service_bench.py runs end to end on a tiny load (real servers, a real etcd when installed):
every phase completes, the table and the verdicts print, nothing is left running. No figure is asserted:
targets are the benchmark's to report, not a test's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from platform_services.store.etcd_local import etcd_binary
from platformctl.paths import REPO_ROOT


def test_the_benchmark_runs_on_a_tiny_load():
    args = ["--count", "12", "--clients", "1,2", "--rounds", "1", "--start-jobs", "1", "--max-seconds", "20"]
    if etcd_binary() is None:
        args.append("--skip-etcd")
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "job_service_bench.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "ERROR" not in out
    for row in ("sqlite   1", "sqlite   2", "submit -> 4 trainers started", "sqlite API server"):
        assert row in out, out
    if etcd_binary() is not None:
        assert "etcd     2" in out and "raw etcd put" in out, out
        assert "CPU per submit, every process" in out and "etcd CPU" in out and "cores busy" in out, out
    assert _bench_processes() == [], "the benchmark left processes running"


def _bench_processes() -> list[str]:
    """Processes whose command line or environment points into a benchmark work directory (its servers'
    CLOUDML_DATA_DIR, its etcd's --data-dir)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if any(b"job-service-bench-" in (proc / f).read_bytes() for f in ("cmdline", "environ")):
                found.append(proc.name)
        except OSError:
            continue  # ended meanwhile, or not ours to read
    return found
