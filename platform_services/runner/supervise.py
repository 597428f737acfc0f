"""The per-replica supervisor: `python -m platform_services.runner.supervise REPLICA_DIR`.

Started detached (its own session) so that replicas outlive a restart of the server. It runs the prepare
command, the trainer and the finish command with their output in REPLICA_DIR/log (capped), and writes
REPLICA_DIR/exit.json when done; the server only reads files, so it can re-attach after a restart.
Standard library only: it starts on every replica launch.
"""

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path


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


def run(argv: list[str], spec: dict, log: CappedLog) -> int:
    memory = spec.get("memory_bytes")

    def limits():
        if memory:
            # RLIMIT_DATA bounds heap and private mappings (Linux >= 4.7), the closest rlimit to "memory".
            resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))

    child = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=spec["env"],
        cwd=spec["cwd"],
        preexec_fn=limits,
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
    code = 0
    steps = [("prepare", spec.get("prepare")), ("trainer", spec["argv"]), ("finish", spec.get("finish"))]
    for step, command in steps:
        if not command or stopping or (code and step != "finish"):
            continue
        argv = ["/bin/sh", "-c", command] if isinstance(command, str) else command
        try:
            step_code = run(argv, spec, log)
        except OSError as exc:
            log.write(f"[{step} could not start: {exc}]\n".encode())
            step_code = 127
        code = code or step_code
    write_json(directory / "exit.json", {"code": code, "stopped": bool(stopping), "finished_at": time.time()})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
