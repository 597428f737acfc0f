"""Lab lifecycle: up (idempotent, resumable), down (removes every trace), status."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from platformctl.lab import config, inventory, network, nodes, prereqs, rootfs
from platformctl.lab.config import LabConfig
from platformctl.lab.shell import LabError, run

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass
class UpReport:
    lab: LabConfig
    base_build_s: float
    ssh_ready_s: float
    total_s: float
    per_node_ready_s: dict[str, float] = field(default_factory=dict)


def up(
    nodes_count: int = config.DEFAULT_NODES, lab_id: str | None = None, progress: Progress = _quiet
) -> UpReport:
    """Bring the lab to N SSH-ready nodes; every step checks before it acts, so a re-run resumes."""
    started = time.monotonic()
    prereqs.ensure(install=True)
    lab_id = lab_id or config.default_lab_id()
    with config.host_lock():
        lab = config.allocate(lab_id, nodes_count)
        previous = config.load(lab_id)
        lab.save()
    if previous is not None and previous.nodes > lab.nodes:
        for extra in previous.node_names()[lab.nodes :]:
            progress(f"removing {extra} (lab shrinks to {lab.nodes} nodes)")
            _remove_node(previous, extra)
    progress(f"lab {lab.lab_id}: {lab.nodes} nodes on {lab.subnet}")
    if not rootfs.is_cached():
        progress("building the base root filesystem with debootstrap (once; cached afterwards)")
    base, build_s = rootfs.ensure_base()
    _ensure_ssh_key(lab)
    network.ensure_bridge(lab)
    ready_started = time.monotonic()
    for node in lab.node_names():
        network.ensure_node_link(lab, node)
        root = nodes.mount_root(lab, node, base)
        nodes.write_identity(lab, node, root)
        nodes.boot(lab, node)
    _write_known_hosts(lab)
    progress(f"booted {lab.nodes} nodes; waiting for SSH")
    with ThreadPoolExecutor(max_workers=lab.nodes) as pool:
        waits = dict(
            zip(
                lab.node_names(),
                pool.map(lambda n: _wait_booted(lab, n, progress), lab.node_names()),
                strict=True,
            )
        )
    inventory.write(lab)
    progress(f"inventory written to {lab.inventory_path}")
    return UpReport(
        lab=lab,
        base_build_s=build_s,
        ssh_ready_s=time.monotonic() - ready_started,
        total_s=time.monotonic() - started,
        per_node_ready_s=waits,
    )


def _wait_booted(lab: LabConfig, node: str, progress: Progress) -> float:
    """Wait for the node's SSH; boot it once more if its nspawn ended first. On a loaded host a node's nspawn
    has, rarely, ended during boot with an empty console (cause not found); a second failure is final."""
    try:
        return nodes.wait_for_ssh(lab, node)
    except nodes.NodeExited as exc:
        progress(f"{exc}\n{node}: booting it once more")
        nodes.boot(lab, node)
        return nodes.wait_for_ssh(lab, node)


def _ensure_ssh_key(lab: LabConfig) -> None:
    if lab.ssh_key.exists():
        return
    lab.ssh_key.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    run(
        [
            "ssh-keygen",
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            f"platformctl@{lab.lab_id}",
            "-f",
            str(lab.ssh_key),
        ]
    )


def _write_known_hosts(lab: LabConfig) -> None:
    lines = [f"{lab.node_ip(n)} {nodes.host_public_key(lab, n)}" for n in lab.node_names()]
    lab.known_hosts.write_text("\n".join(lines) + "\n")


def _remove_node(lab: LabConfig, node: str) -> None:
    """Stop, unmount and unlink one node; its files go only once nothing of it is running or mounted, so a
    failed removal is reported and retried by the next `down` instead of leaking into the next `up`."""
    nodes.stop(lab, node)
    nodes.unmount_root(lab, node)
    network.remove_node_link(lab, node)
    if lab.node_dir(node).exists():
        shutil.rmtree(lab.node_dir(node))


def _stop_ssh_masters(lab: LabConfig) -> None:
    """Ansible leaves persistent SSH control masters behind; ours carry the lab's known_hosts path."""
    marker = str(lab.known_hosts).encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"ssh") and any(marker in arg for arg in argv):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(proc.name), signal.SIGTERM)


def down(lab_id: str | None = None, progress: Progress = _quiet) -> list[str]:
    """Tear the lab down completely, even after a failed up; return whatever could not be removed."""
    lab_id = lab_id or config.default_lab_id()
    lab = config.load(lab_id)
    if lab is None:
        progress(f"lab {lab_id}: nothing to remove")
        return []
    errors: list[str] = []
    _stop_ssh_masters(lab)
    for node in lab.node_names():
        progress(f"stopping {node}")
        try:
            _remove_node(lab, node)
        except (LabError, OSError) as exc:
            errors.append(f"{node}: {exc}")
    try:
        network.remove_bridge(lab)
    except LabError as exc:
        errors.append(str(exc))
    inventory.remove(lab)
    # The lab's CA and keys die with its cluster; a new lab of the same id must not trust the old one.
    shutil.rmtree(lab.credentials_dir, ignore_errors=True)
    remaining = network.leftovers(lab) + [str(p) for p in _mounts_under(lab.state_dir)]
    if not remaining and not errors:
        shutil.rmtree(lab.state_dir, ignore_errors=True)
        progress(f"lab {lab.lab_id} removed")
    return errors + remaining


def _mounts_under(path: Path) -> list[Path]:
    prefix = str(path) + "/"
    with open("/proc/self/mountinfo") as handle:
        return [Path(line.split()[4]) for line in handle if line.split()[4].startswith(prefix)]


@dataclass
class NodeStatus:
    name: str
    address: str
    running: bool
    pid: int | None


def status(lab_id: str | None = None) -> tuple[LabConfig | None, list[NodeStatus]]:
    lab = config.load(lab_id or config.default_lab_id())
    if lab is None:
        return None, []
    result = []
    for node in lab.node_names():
        pid = nodes.running_pid(lab, node)
        result.append(NodeStatus(node, lab.node_ip(node), pid is not None, pid))
    return lab, result


def require(lab_id: str | None = None) -> LabConfig:
    lab = config.load(lab_id or config.default_lab_id())
    if lab is None:
        raise LabError("no lab here yet: run `platformctl lab up` first")
    return lab
