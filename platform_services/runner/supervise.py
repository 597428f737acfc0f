"""The per-replica supervisor: `python -m platform_services.runner.supervise REPLICA_DIR`.

Started detached (its own session) so that replicas outlive a restart of the server. It runs the prepare
command, the trainer and the finish command with their output in REPLICA_DIR/log (capped), and writes
REPLICA_DIR/exit.json when done; the server only reads files, so it can re-attach after a restart. Each step
enters the replica's CPU and memory limits (runner/limits.py) between fork and exec, so its children inherit
them; the replica's cgroups are removed before exit.json is written.
Standard library only: it starts on every replica launch.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from platform_services.runner import limits


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of `pid` (guards against pid reuse), None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def write_json(path: Path, value: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value))
    os.replace(tmp, path)


class CappedLog:
    def __init__(self, path: Path, cap: int):
        self.file = path.open("ab", buffering=0)
        self.size = path.stat().st_size
        self.cap = cap
        self.truncated = False

    def write(self, data: bytes) -> None:
        room = self.cap - self.size
        if room > 0:
            self.file.write(data[:room])
            self.size += min(room, len(data))
        if len(data) > room and not self.truncated:
            self.truncated = True
            self.file.write(f"\n[log truncated at {self.cap} bytes]\n".encode())


def run(argv: list[str], spec: dict, log: CappedLog, enforcer: limits.Enforcer) -> int:
    child = subprocess.Popen(
        enforcer.argv(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=spec["env"],
        cwd=spec["cwd"],
        preexec_fn=enforcer.enter,
    )
    fd = child.stdout.fileno()
    while chunk := os.read(fd, 65536):
        log.write(chunk)
    code = child.wait()
    return 128 - code if code < 0 else code


def main(replica_dir: str) -> int:
    directory = Path(replica_dir)
    spec = json.loads((directory / "spec.json").read_text())
    write_json(directory / "supervisor.json", {"pid": os.getpid(), "start": process_start_time(os.getpid())})
    stopping = []
    # The server stops a replica with SIGTERM to the process group: the child gets it directly; the
    # supervisor only remembers not to start the next step, and still records the exit.
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    log = CappedLog(directory / "log", spec["log_cap"])
    enforcer = limits.Enforcer(spec["limits"])
    code = 0
    try:
        enforcer.setup()
    except OSError as exc:
        log.write(f"[the replica's limits could not be set up: {exc}]\n".encode())
        code = 125
    steps = [("prepare", spec.get("prepare")), ("trainer", spec["argv"]), ("finish", spec.get("finish"))]
    for step, command in steps:
        if not command or stopping or (code and step != "finish") or code == 125:
            continue
        argv = ["/bin/sh", "-c", command] if isinstance(command, str) else command
        try:
            step_code = run(argv, spec, log, enforcer)
        except (OSError, subprocess.SubprocessError) as exc:  # the latter: entering the limits failed
            log.write(f"[{step} could not start: {exc}]\n".encode())
            step_code = 127
        code = code or step_code
    oom = enforcer.oom_killed()
    try:
        limits.remove(spec["limits"])
    except OSError as exc:  # the server retries when it stops the job
        log.write(f"[could not remove the replica's cgroups: {exc}]\n".encode())
    done = {"code": code, "oom": oom, "stopped": bool(stopping), "finished_at": time.time()}
    write_json(directory / "exit.json", done)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
