"""The local backend: starts, watches and stops the supervised replica processes of a job on this host."""

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

from platform_services.errors import ApiError
from platform_services.jobs.spec import TrainJobSpec
from platform_services.runner import cluster, limits, trainer
from platform_services.runner.supervise import process_start_time, write_json
from platform_services.units import format_memory, parse_cpu, parse_memory

log = logging.getLogger("platform_services.runner")
# Environment variables never handed to a trainer: the server's own settings (its key) and credentials.
_PRIVATE_ENV = ("CLOUDML_", "AWS_")
LAST_LINES = 20


def host_gpus() -> int:
    nvidia_smi = shutil.which("nvidia-smi")
    if not nvidia_smi:
        return 0
    try:
        out = subprocess.run([nvidia_smi, "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.splitlines() if line.startswith("GPU "))


def tail(path: Path, lines: int) -> str:
    try:
        with path.open("rb") as f:
            return b"".join(deque(f, maxlen=lines)).decode(errors="replace")
    except OSError:
        return ""


class LocalBackend:
    def __init__(self, settings):
        self.settings = settings
        self.gpus = settings.gpus if settings.gpus is not None else host_gpus()
        self.limits_mechanism = limits.choose(settings.limits_mechanism) if settings.runner_enabled else None
        self._children: list[subprocess.Popen] = []  # reaped as they end, so no zombies pile up

    # ---- admission-time checks ---------------------------------------------------------------------------
    def validate(self, spec: TrainJobSpec) -> None:
        for name in ("docker_image", "docker_command", "node_selector_key"):
            if getattr(spec, name) is not None:
                raise ApiError(
                    400,
                    "Unsupported",
                    f"{name} cannot be honoured by the local backend (jobs run "
                    "as processes on the server's host); leave it out or use the Kubernetes backend",
                    name,
                )
        path = trainer.local_path(spec.trainer_uri)
        if path is not None and not path.exists():
            raise ApiError(
                400,
                "InvalidField",
                f"trainer_uri {spec.trainer_uri!r} does not exist on the server",
                "trainer_uri",
            )
        if spec.gpu_limit * spec.replicas > self.gpus:
            raise ApiError(
                400,
                "InvalidField",
                f"the job needs {spec.gpu_limit * spec.replicas} GPU(s); this host has {self.gpus}",
                "gpu_limit",
            )

    # ---- lifecycle ---------------------------------------------------------------------------------------
    def job_dir(self, job: dict) -> Path:
        return self.settings.jobs_dir / job["org_id"] / f"{job['job_name']}-{job['uid'][:12]}"

    def plan(self, job: dict, busy_gpus: set[int]) -> list[dict] | None:
        """Replica records (ports, dirs, GPUs) for a job; None while its GPUs are not free."""
        spec = job["spec"]
        replicas = cluster.plan(spec)
        free = [g for g in range(self.gpus) if g not in busy_gpus]
        need = spec["gpu_limit"]
        if need * len(replicas) > len(free):
            return None
        return [
            {
                "name": r.name,
                "type": r.type,
                "index": r.index,
                "port": r.port,
                "dir": str(self.job_dir(job) / r.name),
                "gpus": free[i * need : (i + 1) * need],
            }
            for i, r in enumerate(replicas)
        ]

    def start(self, job: dict) -> None:
        """Fetch the trainer and launch every replica's supervisor, recording each one's pid in
        `job["replicas"]`. Raises TrainerError/OSError."""
        spec = job["spec"]
        root = trainer.fetch(spec["trainer_uri"], self.job_dir(job) / "trainer", spec["module_name"])
        replicas = [cluster.Replica(r["type"], r["index"], r["port"]) for r in job["replicas"]]
        base_env = {k: v for k, v in os.environ.items() if not k.startswith(_PRIVATE_ENV)}
        for record, replica in zip(job["replicas"], replicas, strict=True):
            directory = Path(record["dir"])
            record["limits"] = limits.plan(
                self.limits_mechanism,
                f"{job['org_id']}/{directory.parent.name}/{record['name']}",
                parse_cpu(spec["cpu_limit"]),
                parse_memory(spec["memory_limit"]),
                self.settings.cgroup_parent,
            )
            (directory / "work").mkdir(parents=True, exist_ok=True)
            env = {
                **base_env,
                **cluster.environment(spec, replicas, replica),
                "PYTHONPATH": os.pathsep.join(filter(None, [str(root), base_env.get("PYTHONPATH")])),
                "PYTHONUNBUFFERED": "1",
                "CLOUD_ML_JOB_ID": job["job_name"],
                "CUDA_VISIBLE_DEVICES": ",".join(map(str, record["gpus"])),
            }
            write_json(
                directory / "spec.json",
                {
                    "argv": [self.settings.python_executable, "-m", spec["module_name"], *spec["job_args"]],
                    "env": env,
                    "cwd": str(directory / "work"),
                    "prepare": spec.get("prepare_command"),
                    "finish": spec.get("finish_command"),
                    "log_cap": self.settings.log_cap_bytes,
                    "limits": record["limits"],
                },
            )
            child = subprocess.Popen(
                [sys.executable, "-m", "platform_services.runner.supervise", str(directory)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                close_fds=True,
            )
            self._children.append(child)
            # Recorded in the job at once, so that a stop can find the replica before its pid file exists.
            record["pid"], record["start"] = child.pid, process_start_time(child.pid)

    def poll(self, job: dict) -> tuple[str, int | None, str] | None:
        """None while running; else (completed|failed, exit code, message)."""
        self.reap()
        lost = []
        for i, record in enumerate(job["replicas"]):
            directory = Path(record["dir"])
            done = _read_json(directory / "exit.json")
            if done is not None:
                if done["code"] != 0:
                    lines = tail(directory / "log", LAST_LINES)
                    if done.get("oom"):
                        memory = format_memory(record["limits"]["memory_bytes"])
                        why = f"was killed for exceeding its memory limit ({memory})"
                    else:
                        why = f"exited with code {done['code']}"
                    return "failed", done["code"], f"replica {record['name']} {why}; last lines:\n{lines}"
                if i == 0:
                    return "completed", 0, f"{record['name']} succeeded"
            elif self._live_pid(record) is None:
                lost.append(record["name"])
        if lost:
            return (
                "failed",
                None,
                f"replica(s) {', '.join(lost)} vanished without an exit status (host restart?)",
            )
        return None

    def stop(self, job: dict) -> None:
        """SIGTERM every live replica's process group, SIGKILL what is left after the grace period."""
        groups = [pid for r in job["replicas"] if (pid := self._live_pid(r))]
        for pid in groups:
            _killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.settings.stop_grace_s
        while groups and time.monotonic() < deadline:
            self.reap()
            groups = [pid for pid in groups if _group_alive(pid)]
            time.sleep(0.05)
        for pid in groups:
            _killpg(pid, signal.SIGKILL)
        for record in job["replicas"]:
            if record.get("limits"):  # the supervisor removes its cgroups; not if it was killed or crashed
                try:
                    limits.remove(record["limits"])
                except OSError as exc:
                    log.warning("cgroups of %s left behind: %s", record["name"], exc)

    def reap(self) -> None:
        self._children = [c for c in self._children if c.poll() is None]

    @staticmethod
    def _live_pid(record: dict) -> int | None:
        """The replica's supervisor pid (also its process group) while that very process lives."""
        info = record if record.get("pid") else _read_json(Path(record["dir"]) / "supervisor.json")
        if info is None or process_start_time(info["pid"]) != info["start"]:
            return None
        return info["pid"]

    # ---- logs --------------------------------------------------------------------------------------------
    def log_path(self, job: dict, replica: str | None) -> Path | None:
        for record in job["replicas"]:
            if replica is None or record["name"] == replica:
                return Path(record["dir"]) / "log"
        return None

    @staticmethod
    def read_from(path: Path, offset: int) -> bytes:
        try:
            with path.open("rb") as f:
                f.seek(offset)
                return f.read(64 << 20)
        except OSError:
            return b""


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _killpg(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _group_alive(pgid: int) -> bool:
    """Any non-zombie process left in the group (the supervisor's and its children share it)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            return True
    return False
