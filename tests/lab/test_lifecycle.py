"""The lab's lifecycle on real systemd-nspawn nodes: up from cache, idempotent up, resume, two labs at
once, and a down that leaves no process, mount, namespace, link or firewall rule."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from platformctl.lab import manager, nodes, rootfs
from platformctl.lab.config import LabConfig


def ssh(lab: LabConfig, node: str, command: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        nodes.ssh_command(lab, node, command), capture_output=True, text=True, timeout=timeout, check=False
    )


def _mounts() -> str:
    with open("/proc/self/mountinfo") as handle:
        return handle.read()


def _alive(pid: int | None) -> bool:
    """A live process has a command line; a reaped or zombie one has none."""
    try:
        return bool(Path(f"/proc/{pid}/cmdline").read_bytes())
    except FileNotFoundError:
        return False


def test_up_boots_real_systemd_nodes_reachable_over_ssh(make_lab):
    report = make_lab("life", nodes=3)
    lab = report.lab
    assert rootfs.is_cached()
    for node in lab.node_names():
        out = ssh(lab, node, "hostname; systemctl is-system-running --wait; systemd-detect-virt")
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == [node, "running", "systemd-nspawn"]
    assert lab.inventory_path.exists()


def test_up_again_is_a_no_op_and_resumes_a_dead_node(make_lab):
    lab = make_lab("life", nodes=3).lab
    before = {n: nodes.running_pid(lab, n) for n in lab.node_names()}
    again = make_lab("life", nodes=3).lab
    assert {n: nodes.running_pid(again, n) for n in again.node_names()} == before

    os.kill(before["node2"], signal.SIGKILL)  # simulate a crashed node / interrupted up
    deadline = time.monotonic() + 10
    while nodes.running_pid(lab, "node2") is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    make_lab("life", nodes=3)
    assert nodes.running_pid(lab, "node2") not in (None, before["node2"])
    assert ssh(lab, "node2", "true").returncode == 0


def test_nodes_reach_only_dns_and_http_through_the_host(make_lab):
    lab = make_lab("life", nodes=3).lab
    # Node to node on the lab bridge works; ICMP to the outside world is dropped by the lab's FORWARD rules.
    assert (
        ssh(
            lab, "node1", f"getent hosts node1 >/dev/null; exec 3<>/dev/tcp/{lab.node_ip('node2')}/22"
        ).returncode
        == 0
    )
    blocked = ssh(lab, "node1", "timeout 3 bash -c 'exec 3<>/dev/tcp/198.51.100.1/22' || echo blocked")
    assert "blocked" in blocked.stdout


def test_two_labs_coexist_isolated_and_down_removes_every_trace(make_lab):
    first = make_lab("life", nodes=3).lab
    second = make_lab("other", nodes=1).lab
    assert first.subnet != second.subnet
    assert ssh(second, "node1", "true").returncode == 0
    assert ssh(first, "node1", "true").returncode == 0
    # A node of one lab cannot reach a node of the other.
    crossed = ssh(
        first, "node1", f"timeout 3 bash -c 'exec 3<>/dev/tcp/{second.node_ip('node1')}/22' || echo isolated"
    )
    assert "isolated" in crossed.stdout

    pids = [nodes.running_pid(second, "node1")]
    assert manager.down(second.lab_id) == []
    assert not second.state_dir.exists()
    assert not second.inventory_path.exists()
    assert str(second.state_dir) not in _mounts()
    assert not any(_alive(pid) for pid in pids)
    assert not any(
        second.lab_id in line
        for line in subprocess.run(
            ["iptables-save"], capture_output=True, text=True, check=True
        ).stdout.splitlines()
    )
    # The other lab is untouched.
    assert ssh(first, "node1", "true").returncode == 0
