"""Lab nodes: an overlay root per node, identity written before boot, systemd-nspawn started detached.

The host has no systemd PID 1, so nodes run unregistered (`--register=no --keep-unit`); each node's
nspawn PID is kept in its directory and is how the node is stopped.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from platformctl.lab import network
from platformctl.lab.config import LabConfig
from platformctl.lab.shell import LabError, run, succeeds

BOOT_TIMEOUT_S = 90
STOP_TIMEOUT_S = 30


def _merged(lab: LabConfig, node: str) -> Path:
    return lab.node_dir(node) / "root"


def _pid_file(lab: LabConfig, node: str) -> Path:
    return lab.node_dir(node) / "nspawn.pid"


def is_mounted(path: Path) -> bool:
    target = str(path)
    with open("/proc/self/mountinfo") as handle:
        return any(line.split()[4] == target for line in handle)


def running_pid(lab: LabConfig, node: str) -> int | None:
    """The node's nspawn PID if that process is alive and is still our nspawn."""
    pid_file = _pid_file(lab, node)
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text().strip())
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:
        return None
    if b"systemd-nspawn" not in cmdline[0] or lab.machine_name(node).encode() not in cmdline:
        return None
    return pid


def mount_root(lab: LabConfig, node: str, base: Path) -> Path:
    node_dir = lab.node_dir(node)
    upper, work, merged = node_dir / "upper", node_dir / "work", _merged(lab, node)
    for path in (upper, work, merged):
        path.mkdir(parents=True, exist_ok=True)
    if not is_mounted(merged):
        run(
            [
                "mount",
                "-t",
                "overlay",
                f"plab-{lab.machine_name(node)}",
                "-o",
                f"lowerdir={base},upperdir={upper},workdir={work}",
                str(merged),
            ]
        )
    return merged


def write_identity(lab: LabConfig, node: str, root: Path) -> None:
    """Hostname, hosts, resolver, SSH host keys and the operator's key: what a node needs before boot."""
    (root / "etc" / "hostname").write_text(f"{node}\n")
    hosts = ["127.0.0.1 localhost", f"127.0.1.1 {node}", "::1 localhost ip6-localhost ip6-loopback"]
    (root / "etc" / "hosts").write_text("\n".join(hosts) + "\n")
    resolv = root / "etc" / "resolv.conf"
    if resolv.is_symlink():
        resolv.unlink()
    resolv.write_text("".join(f"nameserver {ns}\n" for ns in network.host_nameservers()))
    ssh_dir = root / "root" / ".ssh"
    ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    authorized = ssh_dir / "authorized_keys"
    authorized.write_text(lab.ssh_key.with_suffix(".pub").read_text())
    authorized.chmod(0o600)
    if not (root / "etc" / "ssh" / "ssh_host_ed25519_key").exists():
        run(["ssh-keygen", "-A", "-f", str(root)])
    if not (root / "etc" / "machine-id").read_text().strip():
        (root / "etc" / "machine-id").write_text(os.urandom(16).hex() + "\n")


def host_public_key(lab: LabConfig, node: str) -> str:
    """`type base64` of the node's ED25519 host key, for the lab's known_hosts file."""
    fields = (_merged(lab, node) / "etc" / "ssh" / "ssh_host_ed25519_key.pub").read_text().split()
    return " ".join(fields[:2])


def boot(lab: LabConfig, node: str) -> int:
    """Start the node's nspawn detached and return its PID (no-op if it is already running)."""
    pid = running_pid(lab, node)
    if pid is not None:
        return pid
    log = open(lab.node_dir(node) / "console.log", "ab")  # noqa: SIM115 - handed to the child process
    # Not --quiet: nspawn's own status and errors ("Container ... failed with error code N") go in the log.
    cmd = [
        "systemd-nspawn",
        "-D",
        str(_merged(lab, node)),
        "-M",
        lab.machine_name(node),
        f"--hostname={node}",
        "--boot",
        "--register=no",
        "--keep-unit",
        "--resolv-conf=off",
        "--link-journal=no",
        "--timezone=off",
        f"--network-namespace-path=/run/netns/{lab.netns(node)}",
    ]
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    log.close()
    _pid_file(lab, node).write_text(f"{proc.pid}\n")
    return proc.pid


class NodeExited(LabError):
    """The node's nspawn process ended before the node answered SSH."""


def _exit_status(lab: LabConfig, node: str) -> str:
    """How the node's nspawn ended, when this process started it (and so can reap it)."""
    try:
        pid = int(_pid_file(lab, node).read_text().strip())
        reaped, status = os.waitpid(pid, os.WNOHANG)
    except (OSError, ValueError):  # ChildProcessError: started by another process
        return "exit status unknown"
    if reaped == 0:
        return "still exiting"
    code = os.waitstatus_to_exitcode(status)
    return f"killed by signal {-code}" if code < 0 else f"exit status {code}"


def wait_for_ssh(lab: LabConfig, node: str, timeout: float = BOOT_TIMEOUT_S) -> float:
    """Block until `ssh node true` works; return the seconds it took."""
    started = time.monotonic()
    deadline = started + timeout
    address = lab.node_ip(node)
    while time.monotonic() < deadline:
        if running_pid(lab, node) is None:
            tail = (lab.node_dir(node) / "console.log").read_text(errors="replace")[-2000:]
            raise NodeExited(
                f"{node}: systemd-nspawn exited during boot ({_exit_status(lab, node)}); "
                f"console tail:\n{tail}"
            )
        try:
            with socket.create_connection((address, 22), timeout=1):
                pass
        except OSError:
            time.sleep(0.2)
            continue
        if succeeds(ssh_command(lab, node, "true")):
            return time.monotonic() - started
        time.sleep(0.2)
    raise LabError(
        f"{node} ({address}): SSH not ready within {timeout:.0f} s; see {lab.node_dir(node) / 'console.log'}"
    )


def ssh_command(lab: LabConfig, node: str, *remote: str) -> list[str]:
    return [
        "ssh",
        "-i",
        str(lab.ssh_key),
        "-o",
        f"UserKnownHostsFile={lab.known_hosts}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=5",
        "-o",
        "LogLevel=ERROR",
        f"root@{lab.node_ip(node)}",
        *remote,
    ]


def stop(lab: LabConfig, node: str, timeout: float = STOP_TIMEOUT_S) -> None:
    """Shut the node down cleanly (SIGTERM makes nspawn halt the machine), SIGKILL as a last resort."""
    pid = running_pid(lab, node)
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running_pid(lab, node) is None:
            return
        time.sleep(0.2)
    os.killpg(pid, signal.SIGKILL)
    time.sleep(0.5)
    if running_pid(lab, node) is not None:
        raise LabError(f"{node}: nspawn PID {pid} survived SIGKILL")


def unmount_root(lab: LabConfig, node: str, attempts: int = 10) -> None:
    """Unmount the node's root (and anything mounted below it), retrying while the kernel reports it busy
    (a just-killed machine's processes may still be exiting on a loaded host)."""
    merged = _merged(lab, node)
    for attempt in range(attempts):
        if not is_mounted(merged):
            return
        proc = run(["umount", "-R", str(merged)], check=False)
        if proc.returncode == 0:
            return
        time.sleep(0.5 * (attempt + 1))
    raise LabError(f"{node}: {merged} is still mounted after {attempts} attempts: {proc.stderr.strip()}")
