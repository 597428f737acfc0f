"""`LocalServer`: the real `python -m platform_services serve` as a child process on 127.0.0.1.

The port is bound here and the socket handed to the server as a file descriptor (`serve --fd`), so the URL is
known before the server starts, no other process can take the port in between, and a killed server can be
started again on the same port. Settings are `CLOUDML_*` variables built from keyword arguments and checked
with `Settings` before anything starts, so a bad one is named here rather than in the child's log.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

from platform_services.sdk import CloudMLClient
from platform_services.settings import Settings
from platform_services.testing.processes import stop_process

REPO = Path(__file__).resolve().parents[2]
# Harness defaults (keyword arguments override): replicas of a stopped job get 1 s, not 5 s, to exit.
DEFAULTS = {"stop_grace_s": "1"}


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system, all threads) process `pid` has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class LocalServer:
    """One server process over `data_dir`; it can be killed (SIGKILL) and started again on the same port.
    `admin_key` is an admin access key made with `create-admin` before the first start."""

    command = (sys.executable, "-m", "platform_services")  # a profiling wrapper may stand in

    def __init__(self, data_dir: Path, **settings):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "CLOUDML_SERVER_KEY": Fernet.generate_key().decode(),
            "CLOUDML_DATA_DIR": str(self.data_dir),
            **{f"CLOUDML_{k.upper()}": str(v) for k, v in {**DEFAULTS, **settings}.items()},
        }
        Settings.from_env(self.env)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = self.data_dir / "server.log"
        self.proc: subprocess.Popen | None = None
        admin = subprocess.run(
            [*self.command, "create-admin"],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO,
        )
        self.admin_key = json.loads(admin.stdout)

    def start(self, timeout_s: float = 30.0) -> LocalServer:
        fd = self.sock.fileno()
        with self.log.open("a") as log:
            self.proc = subprocess.Popen(
                [*self.command, "serve", "--fd", str(fd)],
                env=self.env,
                cwd=REPO,
                pass_fds=(fd,),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        stop_process(self.proc)
        raise RuntimeError(f"server did not start:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL, as a crash would: nothing is flushed or stopped in order."""
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        stop_process(self.proc)
        self.sock.close()

    def client(self, key: dict) -> CloudMLClient:
        return CloudMLClient(self.url, key["access_key"], key["secret_key"])

    def cpu_s(self) -> float:
        """CPU seconds (user + system, all threads) the server process has used so far."""
        return process_cpu_s(self.proc.pid)

    def rss_mib(self) -> float:
        """The server process's resident memory now (NaN when it is not running)."""
        try:
            status = Path(f"/proc/{self.proc.pid}/status").read_text()
        except (OSError, AttributeError):
            return float("nan")
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
