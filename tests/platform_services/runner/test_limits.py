"""CPU and memory limits on real replicas, by each mechanism the host offers (runner/limits.py): a CPU-bound
replica stays under its quota as the cgroup itself counts it, one allocating past its memory limit fails the
job with a reason naming memory, the rlimit fallback bounds memory and pins ceil(cpu) cores, and no cgroup is
left once the jobs end. A mechanism the host lacks is skipped with what is missing."""

import math
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from platform_services.runner import limits
from tests.platform_services.conftest import Server, Tenant, job, wait_for

# A trainer package: `burn SECONDS` spins two forked processes (children must be limited too), `alloc MIB`
# touches that much memory, `affinity` prints the cores it may run on.
TASK = """
import os, sys, time

def spin(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass

mode = sys.argv[1]
if mode == "burn":
    pids = []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:
            spin(float(sys.argv[2]))
            os._exit(0)
        pids.append(pid)
    for pid in pids:
        os.waitpid(pid, 0)
elif mode == "alloc":
    held = [b"x" * (1 << 20) for _ in range(int(sys.argv[2]))]
    print("allocated", len(held), "MiB")
elif mode == "affinity":
    print("AFFINITY", len(os.sched_getaffinity(0)), flush=True)
"""


@pytest.fixture(scope="module")
def trainer(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("limits-trainer")
    (root / "hog").mkdir()
    (root / "hog" / "__init__.py").write_text("")
    (root / "hog" / "task.py").write_text(textwrap.dedent(TASK))
    return root


def _server(tmp_path, mechanism: str) -> Server:
    reason = limits.missing(mechanism)
    if reason:
        pytest.skip(f"{mechanism} limits cannot exist on this host: {reason}")
    return Server(tmp_path, reconcile_interval_s="0.05", limits_mechanism=mechanism)  # `with` starts it


def _hog(trainer: Path, name: str, args: str, **fields) -> dict:
    return job(name, module_name="hog.task", trainer_uri=str(trainer), job_args=args, **fields)


def _cgroup_dirs(replica_limits: dict) -> list[Path]:
    if replica_limits["mechanism"] == "systemd":
        group = subprocess.run(
            ["systemctl", "show", "--property=ControlGroup", "--value", replica_limits["unit"]],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return [Path("/sys/fs/cgroup" + group)] if group else []
    return [Path(d) for d in replica_limits["cgroups"]]


def _cpu_seconds(dirs: list[Path]) -> float | None:
    """CPU time the cgroup has used, as the kernel counts it (v1 cpuacct.usage, v2 cpu.stat usage_usec)."""
    for directory in dirs:
        if (directory / "cpuacct.usage").exists():
            return int((directory / "cpuacct.usage").read_text()) / 1e9
        if (directory / "cpu.stat").exists():
            stat = dict(line.split() for line in (directory / "cpu.stat").read_text().splitlines())
            if "usage_usec" in stat:
                return int(stat["usage_usec"]) / 1e6
    return None


def _finished(client, name):
    def check():
        state = client.describe_train_job(name)["state"]
        return state if state in ("completed", "failed") else None

    return check


@pytest.mark.parametrize("mechanism", ["cgroup-v1", "cgroup-v2", "systemd"])
def test_cpu_quota_bounds_a_busy_replica_and_its_children(tmp_path, trainer, mechanism):
    with _server(tmp_path, mechanism) as server:
        c = Tenant(server).client
        c.submit_train_job(_hog(trainer, "burn", "burn 60", cpu_limit="0.5", memory_limit="256M"))
        wait_for(lambda: c.describe_train_job("burn")["state"] == "running", timeout=60)
        replica_limits = c.describe_train_job("burn")["replicas"][0]["limits"]
        assert replica_limits["mechanism"] == mechanism and "cpu 0.5" in replica_limits["enforcement"]
        dirs = wait_for(lambda: _cgroup_dirs(replica_limits), timeout=30)
        wait_for(lambda: (_cpu_seconds(dirs) or 0) > 0, timeout=30)  # the trainer is in its cgroup
        used, started = _cpu_seconds(dirs), time.monotonic()
        while time.monotonic() - started < 3:
            time.sleep(0.1)  # the measurement window, not synchronisation
        rate = (_cpu_seconds(dirs) - used) / (time.monotonic() - started)
        print(f"{mechanism}: {rate:.2f} CPU-seconds per second under cpu_limit 0.5")
        # Two spinning processes would take up to 2 CPU-s per second unlimited; the quota is 0.5.
        assert rate <= 0.6, f"{rate:.2f} CPU-seconds per second under a 0.5 CPU limit"
        c.delete_train_job("burn")
        wait_for(lambda: not any(d.exists() for d in dirs), timeout=30)


@pytest.mark.parametrize("mechanism", ["cgroup-v1", "cgroup-v2", "systemd"])
def test_memory_over_the_limit_fails_the_job_naming_memory(tmp_path, trainer, mechanism):
    with _server(tmp_path, mechanism) as server:
        c = Tenant(server).client
        c.submit_train_job(_hog(trainer, "oom", "alloc 600", cpu_limit="1", memory_limit="128M"))
        assert wait_for(_finished(c, "oom"), timeout=120) == "failed"
        described = c.describe_train_job("oom")
        assert "exceeding its memory limit (128M)" in described["message"], described["message"]
        assert "allocated" not in c.get_train_job_logs("oom")
        if mechanism != "systemd":
            for directory in described["replicas"][0]["limits"]["cgroups"]:
                assert not Path(directory).exists(), directory
                assert not Path(directory).parents[1].exists(), "the org's cgroup directory is left"


def test_rlimit_fallback_bounds_memory_and_pins_cores(tmp_path, trainer):
    with _server(tmp_path, "rlimit") as server:
        c = Tenant(server).client
        c.submit_train_job(_hog(trainer, "big", "alloc 600", cpu_limit="0.5", memory_limit="256M"))
        c.submit_train_job(_hog(trainer, "pinned", "affinity", cpu_limit="0.5", memory_limit="256M"))
        assert wait_for(_finished(c, "big"), timeout=120) == "failed"
        assert "MemoryError" in c.describe_train_job("big")["message"]
        assert wait_for(_finished(c, "pinned"), timeout=120) == "completed"
        described = c.describe_train_job("pinned")["replicas"][0]["limits"]
        assert described["mechanism"] == "rlimit" and "RLIMIT_AS" in described["enforcement"]
        assert f"AFFINITY {math.ceil(0.5)}" in c.get_train_job_logs("pinned")


def test_forcing_a_mechanism_the_host_lacks_is_refused():
    absent = next((m for m in limits.MECHANISMS if limits.missing(m)), None)
    if absent is None:
        pytest.skip("this host offers every limits mechanism")
    with pytest.raises(ValueError, match=f"CLOUDML_LIMITS_MECHANISM={absent} cannot work here"):
        limits.choose(absent)
