"""CPU and memory limits on a replica's processes, by the strongest mechanism the host offers:

1. `systemd`: a transient scope per replica (`systemd-run --scope`, CPUQuota/MemoryMax) when systemd is PID 1
   and the system bus answers;
2. `cgroup-v2` / `cgroup-v1`: cgroups made directly under the server's own cgroup (so the service's own
   limits still contain its jobs), `<own cgroup>/<cgroup_parent>/<org>/<job>-<uid>/<replica>`: cpu.max,
   memory.max and memory.swap.max=0 (v2, needs the cpu and memory controllers delegated to the server's
   cgroup) or cpu.cfs_quota_us, memory.limit_in_bytes and memory.memsw.limit_in_bytes (v1);
3. `rlimit`: RLIMIT_AS for memory and, as the coarse CPU bound, affinity to ceil(cpu) cores.

The server plans (`plan`, recorded on the job's replicas so a user sees which one applies and a restarted
server can clean up); the supervisor applies (`Enforcer`) in the child between fork and exec of each step, so
everything the trainer starts inherits the limits. Standard library only: the supervisor imports it.
Ref: https://docs.kernel.org/admin-guide/cgroup-v2.html, https://docs.kernel.org/admin-guide/cgroup-v1/
"""

import contextlib
import math
import os
import resource
import shutil
import signal
import subprocess
import time
from pathlib import Path

MECHANISMS = ("systemd", "cgroup-v2", "cgroup-v1", "rlimit")
CFS_PERIOD_US = 100_000
MIN_CPU_MILLIS = 10  # a 0-CPU request still runs, at 1% of a core
V1_CONTROLLERS = ("cpu", "cpuacct", "memory")


# ---- what the host offers -----------------------------------------------------------------------------
def _mounts() -> list[tuple[str, str, set[str]]]:
    """(mount point, fs type, options) of the cgroup file systems."""
    found = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mounts").read_text().splitlines():
            _, point, fstype, options, *_ = line.split()
            if fstype in ("cgroup", "cgroup2"):
                found.append((point, fstype, set(options.split(","))))
    return found


def _own_paths() -> dict[str, str]:
    """This process's cgroup path per v1 controller, and under "" its v2 path."""
    paths = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                paths[controller] = path
    return paths


def _v1_bases() -> dict[str, Path]:
    """The server's own cgroup directory in the v1 hierarchy of each controller we use."""
    own = _own_paths()
    bases = {}
    for point, fstype, options in _mounts():
        for controller in V1_CONTROLLERS:
            if fstype == "cgroup" and controller in options and controller in own:
                bases[controller] = Path(point + own[controller])
    return bases


def _v2_base() -> Path | None:
    own = _own_paths()
    for point, fstype, _ in _mounts():
        if fstype == "cgroup2" and "" in own:
            return Path(point + own[""])
    return None


def missing(mechanism: str) -> str | None:
    """Why `mechanism` cannot work on this host, or None when it can."""
    if mechanism == "systemd":
        if Path("/proc/1/comm").read_text().strip() != "systemd":
            return "PID 1 is not systemd"
        if not shutil.which("systemd-run"):
            return "systemd-run is not installed"
        try:
            answered = subprocess.run(
                ["systemctl", "show", "--property=Version"], capture_output=True, timeout=10
            ).returncode
        except (OSError, subprocess.SubprocessError):
            answered = 1
        return None if answered == 0 else "the systemd system bus does not answer"
    if mechanism == "cgroup-v2":
        base = _v2_base()
        if base is None:
            return "no cgroup v2 hierarchy is mounted"
        offered = (base / "cgroup.controllers").read_text().split()
        lacking = [c for c in ("cpu", "memory") if c not in offered]
        if lacking:
            return f"the cgroup v2 hierarchy at {base} lacks the {', '.join(lacking)} controller(s)"
        return None if os.access(base, os.W_OK) else f"{base} is not writable (not delegated to this user)"
    if mechanism == "cgroup-v1":
        bases = _v1_bases()
        lacking = [c for c in V1_CONTROLLERS if c not in bases]
        if lacking:
            return f"no cgroup v1 hierarchy for {', '.join(lacking)}"
        unwritable = [str(b) for b in bases.values() if not os.access(b, os.W_OK)]
        return f"{', '.join(unwritable)} not writable" if unwritable else None
    if mechanism == "rlimit":
        return None
    raise ValueError(f"unknown limits mechanism {mechanism!r}; one of {', '.join(MECHANISMS)}")


def choose(setting: str) -> str:
    """The mechanism to use: the one the setting forces (refused when the host lacks it), else the first
    the host offers."""
    if setting != "auto":
        reason = missing(setting)
        if reason:
            raise ValueError(f"CLOUDML_LIMITS_MECHANISM={setting} cannot work here: {reason}")
        return setting
    return next(m for m in MECHANISMS if missing(m) is None)


# ---- the plan the server records ---------------------------------------------------------------------------
def plan(mechanism: str, group: str, cpu_millis: int, memory_bytes: int, parent: str) -> dict:
    """What will be enforced for one replica, with its description for users; `group` is
    "<org>/<job>-<uid>/<replica>"."""
    cpu_millis = max(cpu_millis, MIN_CPU_MILLIS)
    limits = {"mechanism": mechanism, "cpu_millis": cpu_millis, "memory_bytes": memory_bytes}
    if mechanism == "cgroup-v1":
        limits["cgroups"] = sorted({str(base / parent / group) for base in _v1_bases().values()})
    elif mechanism == "cgroup-v2":
        limits["cgroups"] = [str(_v2_base() / parent / group)]
    elif mechanism == "systemd":
        limits["unit"] = "cloudml-" + group.replace("/", "-") + ".scope"
    elif mechanism == "rlimit":
        limits["cpus"] = sorted(os.sched_getaffinity(0))[: math.ceil(cpu_millis / 1000)]
    limits["enforcement"] = describe(limits)
    return limits


def describe(limits: dict) -> str:
    cpu, memory = limits["cpu_millis"] / 1000, limits["memory_bytes"] / 2**20
    how = {
        "systemd": f"systemd scope {limits.get('unit')} (CPUQuota, MemoryMax)",
        "cgroup-v2": "cgroup v2 (cpu.max, memory.max, no swap)",
        "cgroup-v1": "cgroup v1 (cpu.cfs_quota_us, memory.limit_in_bytes, no swap)",
        "rlimit": f"rlimits: address space (RLIMIT_AS) and CPU affinity to cores {limits.get('cpus')}",
    }[limits["mechanism"]]
    return f"cpu {cpu:g}, memory {memory:g} MiB enforced by {how}"


# ---- applying it (in the supervisor) -----------------------------------------------------------------------
class Enforcer:
    def __init__(self, limits: dict):
        self.limits = limits
        self.mechanism = limits["mechanism"]
        self.dirs = [Path(d) for d in limits.get("cgroups", [])]

    def setup(self) -> None:
        """Make the replica's cgroups and write their limits (OSError if the host refuses)."""
        cpu, memory = self.limits["cpu_millis"], self.limits["memory_bytes"]
        quota = cpu * CFS_PERIOD_US // 1000
        for directory in self.dirs:
            for attempt in range(3):  # another replica's `remove` may take an emptied org directory away
                try:
                    directory.mkdir(parents=True, exist_ok=True)
                    break
                except FileNotFoundError:
                    if attempt == 2:
                        raise
            if self.mechanism == "cgroup-v2":
                self._enable_v2_controllers(directory)
                (directory / "cpu.max").write_text(f"{quota} {CFS_PERIOD_US}")
                (directory / "memory.max").write_text(str(memory))
                _write_if_present(directory / "memory.swap.max", "0")
            else:
                if (directory / "cpu.cfs_quota_us").exists():
                    (directory / "cpu.cfs_period_us").write_text(str(CFS_PERIOD_US))
                    (directory / "cpu.cfs_quota_us").write_text(str(quota))
                if (directory / "memory.limit_in_bytes").exists():
                    (directory / "memory.limit_in_bytes").write_text(str(memory))
                    _write_if_present(directory / "memory.memsw.limit_in_bytes", str(memory))

    def _enable_v2_controllers(self, leaf: Path) -> None:
        base = _v2_base()
        chain = [
            p for p in [leaf, *leaf.parents] if base is not None and p.is_relative_to(base) and p != leaf
        ]
        for directory in reversed(
            chain
        ):  # top-down: a controller is enabled in a child only after its parent
            with contextlib.suppress(OSError):  # already enabled, or refused: then cpu.max is missing below
                (directory / "cgroup.subtree_control").write_text("+cpu +memory")

    def argv(self, argv: list[str]) -> list[str]:
        if self.mechanism != "systemd":
            return argv
        return [
            "systemd-run",
            "--scope",
            "--quiet",
            f"--unit={self.limits['unit']}",
            f"--property=CPUQuota={self.limits['cpu_millis'] / 10:g}%",
            f"--property=MemoryMax={self.limits['memory_bytes']}",
            "--property=MemorySwapMax=0",
            "--",
            *argv,
        ]

    def enter(self) -> None:
        """In the forked child, before exec: from here on the step and all it starts are limited."""
        pid = str(os.getpid())
        for directory in self.dirs:
            (directory / "cgroup.procs").write_text(pid)
        if self.mechanism == "rlimit":
            memory = self.limits["memory_bytes"]
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
            os.sched_setaffinity(0, self.limits["cpus"])

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of this replica for exceeding its memory limit."""
        for directory in self.dirs:
            for name in ("memory.events", "memory.oom_control"):  # v2, v1 (kernel >= 4.13)
                counters = _counters(directory / name)
                if counters.get("oom_kill", 0) > 0:
                    return True
        if self.mechanism == "systemd":
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                result = subprocess.run(
                    ["systemctl", "show", "--property=Result", "--value", self.limits["unit"]],
                    capture_output=True,
                    text=True,
                    timeout=10,
                ).stdout.strip()
                return result == "oom-kill"
        return False


def remove(limits: dict, timeout: float = 10) -> None:
    """Kill what is left in the replica's cgroups (processes that left its process group too) and remove
    them with their then empty job directory; forget a systemd scope that ended failed."""
    if limits.get("mechanism") == "systemd":
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(["systemctl", "reset-failed", limits["unit"]], capture_output=True, timeout=10)
        return
    for directory in map(Path, limits.get("cgroups", [])):
        deadline = time.monotonic() + timeout
        while directory.exists():
            for pid in _read_pids(directory):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(FileNotFoundError):
                try:
                    directory.rmdir()
                except OSError:  # still busy: processes on their way out
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        # The job's, the org's and the platform's, once unused: nothing is left in the server's cgroup.
        for empty in (directory.parent, directory.parents[1], directory.parents[2]):
            with contextlib.suppress(OSError):
                empty.rmdir()


def _read_pids(directory: Path) -> list[int]:
    try:
        return [int(p) for p in (directory / "cgroup.procs").read_text().split()]
    except OSError:
        return []


def _counters(path: Path) -> dict[str, int]:
    try:
        pairs = (line.split() for line in path.read_text().splitlines())
        return {k: int(v) for k, v in pairs if v.lstrip("-").isdigit()}
    except (OSError, ValueError):
        return {}


def _write_if_present(path: Path, value: str) -> None:
    if path.exists():
        path.write_text(value)
