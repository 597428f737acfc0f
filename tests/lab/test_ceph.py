"""playbooks/ceph.yml against a real 3-node lab (Debian's Ceph 16.2 in systemd-nspawn nodes).

The module's lab is converged the way a cluster grows: first node1 and node2 (monitor, manager, gateway
and two OSDs), then node3 in a run limited to it, which must reach HEALTH_OK; a full converge then changes
nothing. Fault tests follow, each bounded in time and restoring the cluster before the next: a stopped OSD
(smoke names it and the degraded PGs; the upgrade refuses to start), a stopped gateway (the S3 check names
it), a rolling upgrade run, and a cold restart of every node.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from platformctl import provision
from platformctl.lab import manager, nodes
from platformctl.lab.config import LabConfig
from platformctl.paths import REPO_ROOT
from tests.lab.conftest import lab_id

LAB_PURPOSE = "ceph"
PLATFORMCTL = Path(sys.executable).parent / "platformctl"
HEALTHY_WITHIN_S = 180  # bound of every wait for the cluster to recover
FAULT_VISIBLE_WITHIN_S = 60  # bound of every wait for a fault to show in the smoke report


@dataclass
class CephLab:
    lab: LabConfig
    first: provision.PlaybookResult  # node1 + node2
    added: provision.PlaybookResult  # node3 alone
    log_dir: Path


@pytest.fixture(scope="module")
def ceph_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CephLab]:
    ident = lab_id(LAB_PURPOSE)
    log_dir = tmp_path_factory.mktemp("ceph-logs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PLATFORM_LAB_ID", ident)
        manager.down(ident)
        try:
            lab = manager.up(3, ident).lab
            # Pools keep 3 replicas on 3 hosts, so with 2 OSD hosts the cluster cannot be HEALTH_OK yet.
            first = provision.run_playbook(
                "lab",
                "ceph.yml",
                limit="node1,node2",
                log_dir=log_dir / "first",
                extra_args=["-e", "ceph_common_wait_for_health=false"],
            )
            assert first.ok, f"first converge failed on {first.failed_hosts}; see {first.log_path}"
            added = provision.run_playbook("lab", "ceph.yml", limit="node3", log_dir=log_dir / "added")
            assert added.ok, f"adding node3 failed on {added.failed_hosts}; see {added.log_path}"
            print(
                f"\nceph converge: node1+node2 {first.duration_s:.0f} s, node3 added {added.duration_s:.0f} s"
            )
            yield CephLab(lab, first, added, log_dir)
        finally:
            leftovers = manager.down(ident)
            shutil.rmtree(REPO_ROOT / "stacks" / "lab" / "credentials" / ident, ignore_errors=True)
    assert not leftovers, f"lab teardown left: {leftovers}"


def ssh(lab: LabConfig, node: str, command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        nodes.ssh_command(lab, node, command), capture_output=True, text=True, timeout=timeout, check=False
    )


def ceph(lab: LabConfig, *args: str) -> Any:
    proc = ssh(lab, "node1", "timeout 30 ceph --connect-timeout 20 " + " ".join(args) + " -f json")
    assert proc.returncode == 0, f"ceph {' '.join(args)}: {proc.stderr.strip()}"
    return json.loads(proc.stdout)


def smoke(tmp_path: Path) -> tuple[int, dict]:
    report = tmp_path / f"smoke-{time.monotonic_ns()}.json"
    command = [str(PLATFORMCTL), "smoke", "--stack", "lab", "--report", str(report), "-k", "ceph"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert report.exists(), proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.returncode, json.loads(report.read_text())


def rows(report: dict, status: str) -> dict[tuple[str, str], str]:
    return {(r["host"], r["check"]): r["message"] for r in report["results"] if r["status"] == status}


def wait_for(what: str, bound_s: float, probe: Callable[[], Any]) -> Any:
    """Poll probe() until it returns something truthy, at most bound_s seconds; return that."""
    deadline = time.monotonic() + bound_s
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(2)
    raise AssertionError(f"{what} not within {bound_s:.0f} s (last: {last!r})")


def smoke_green(tmp_path: Path, bound_s: float = HEALTHY_WITHIN_S) -> dict:
    def probe() -> dict | None:
        code, report = smoke(tmp_path)
        return report if code == 0 and not rows(report, "failed") else None

    return wait_for("smoke green", bound_s, probe)


def osd_of(lab: LabConfig, node: str) -> int:
    out = ssh(lab, node, "cat /var/lib/ceph/osd/ceph-*/whoami").stdout.split()
    assert len(out) == 1, f"{node} should carry exactly one OSD: {out}"
    return int(out[0])


def credentials_dir(lab: LabConfig) -> Path:
    return REPO_ROOT / "stacks" / "lab" / "credentials" / lab.lab_id / "ceph"


def test_cluster_layout_and_health(ceph_lab: CephLab):
    lab = ceph_lab.lab
    status = ceph(lab, "status")
    assert status["health"]["status"] == "HEALTH_OK", status["health"]
    assert status["monmap"]["num_mons"] == 1 and status["quorum_names"] == ["node1"]
    assert ceph(lab, "mgr", "stat")["active_name"] == "node1"
    tree = ceph(lab, "osd", "tree")
    hosts = {n["name"]: n["children"] for n in tree["nodes"] if n["type"] == "host"}
    assert sorted(hosts) == ["node1", "node2", "node3"] and all(len(c) == 1 for c in hosts.values()), hosts
    assert status["osdmap"]["num_up_osds"] == status["osdmap"]["num_in_osds"] == 3
    assert "rgw" in status["servicemap"]["services"], status["servicemap"]
    pools = {p["pool_name"]: p for p in ceph(lab, "osd", "pool", "ls", "detail")}
    assert {"rbd", ".rgw.root", "default.rgw.buckets.data"} <= set(pools)
    assert {(p["size"], p["min_size"]) for p in pools.values()} == {(3, 2)}


def test_adding_an_osd_host_is_a_run_limited_to_it(ceph_lab: CephLab):
    assert set(ceph_lab.first.recap) == {"node1", "node2"}
    assert set(ceph_lab.added.recap) == {"node3"}
    assert ceph_lab.added.recap["node3"]["changed"] > 0
    tree = ceph(ceph_lab.lab, "osd", "tree")
    node3 = next(n for n in tree["nodes"] if n["name"] == "node3")
    assert node3["children"] == [osd_of(ceph_lab.lab, "node3")]


def test_second_converge_changes_nothing(ceph_lab: CephLab):
    again = provision.run_playbook("lab", "ceph.yml", log_dir=ceph_lab.log_dir / "again")
    assert again.ok, again.failed_hosts
    assert set(again.recap) == {"node1", "node2", "node3"}
    changed = {host: counts["changed"] for host, counts in again.recap.items() if counts["changed"]}
    assert changed == {}, f"not idempotent: {changed}; see {again.log_path}"
    print(f"\nceph re-converge: {again.duration_s:.0f} s, changed=0")


def test_outputs_and_tenant_credentials_are_stored_not_printed(ceph_lab: CephLab):
    lab = ceph_lab.lab
    outputs_file = credentials_dir(lab) / "outputs.json"
    tenant_file = credentials_dir(lab) / "s3" / "demo.json"
    for path in (outputs_file, tenant_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    outputs = json.loads(outputs_file.read_text())
    assert outputs["fsid"] == ceph(lab, "status")["fsid"]
    address = lab.node_ip("node1")
    assert outputs["monitors"] == [
        {"name": "node1", "address": address, "v1": f"{address}:6789", "v2": f"{address}:3300"}
    ]
    assert outputs["s3"]["endpoint"] == f"http://{lab.node_ip('node1')}:7480"
    for name, client in outputs["csi_clients"].items():
        key = ssh(lab, "node1", f"ceph auth get-key {name}").stdout.strip()
        assert client["key"] == key and client["id"] == name.removeprefix("client."), name
    tenant = json.loads(tenant_file.read_text())
    s3 = boto3.client(
        "s3",
        endpoint_url=tenant["endpoint"],
        region_name=tenant["region"],
        aws_access_key_id=tenant["access_key"],
        aws_secret_access_key=tenant["secret_key"],
        config=Config(s3={"addressing_style": "path"}, connect_timeout=5, read_timeout=30),
    )
    owned = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert owned == {"demo-datasets", "demo-models"}
    secrets = [tenant["secret_key"]] + [c["key"] for c in outputs["csi_clients"].values()]
    for log in ceph_lab.log_dir.rglob("*.log"):
        text = log.read_text()
        assert not [s for s in secrets if s in text], f"a key was printed in {log}"


def test_smoke_is_green(ceph_lab: CephLab, tmp_path: Path):
    code, report = smoke(tmp_path)
    assert (code, rows(report, "failed")) == (0, {})
    checks = {r["check"] for r in report["results"]}
    assert {
        "ceph.health",
        "ceph.osds_up_and_in",
        "ceph.pgs_active_clean",
        "ceph.s3_round_trip",
        "ceph.mons_in_quorum",
        "ceph.mgr_active",
        "ceph.capacity_below_threshold",
    } <= checks


def test_stopped_osd_is_reported_with_degraded_pgs_and_blocks_the_upgrade(ceph_lab: CephLab, tmp_path: Path):
    lab = ceph_lab.lab
    osd = osd_of(lab, "node2")
    assert ssh(lab, "node2", f"systemctl stop ceph-osd@{osd}").returncode == 0
    try:

        def degraded() -> dict | None:
            code, report = smoke(tmp_path)
            failed = rows(report, "failed")
            if code == 1 and "degraded" in failed.get(("node1", "ceph.pgs_active_clean"), ""):
                return failed
            return None

        failed = wait_for("OSD down and degraded PGs in the smoke report", FAULT_VISIBLE_WITHIN_S, degraded)
        assert f"osd.{osd} on node2 is down" in failed[("node1", "ceph.osds_up_and_in")]
        assert f"osd.{osd}" in failed[("node2", "ceph.osd_services_active")]
        assert "OSD_DOWN" in failed[("node1", "ceph.health")]
        assert {host for host, _ in failed} == {"node1", "node2"}
        pids_before = ssh(lab, "node1", "pidof ceph-mon ceph-mgr").stdout.split()
        refused = provision.run_playbook("lab", "ceph_upgrade.yml", log_dir=ceph_lab.log_dir / "refused")
        assert not refused.ok
        log = refused.log_path.read_text()
        assert "refusing to upgrade" in log
        assert "PLAY [Ceph upgrade | monitors" not in log  # nothing ran after the preflight
        assert ssh(lab, "node1", "pidof ceph-mon ceph-mgr").stdout.split() == pids_before
        assert "noout" not in ceph(lab, "osd", "dump")["flags"]
    finally:
        assert ssh(lab, "node2", f"systemctl start ceph-osd@{osd}").returncode == 0
    smoke_green(tmp_path)


def test_stopped_gateway_fails_the_s3_check_naming_it(ceph_lab: CephLab, tmp_path: Path):
    lab = ceph_lab.lab
    assert ssh(lab, "node1", "systemctl stop ceph-radosgw@rgw.node1").returncode == 0
    try:
        code, report = smoke(tmp_path)
        failed = rows(report, "failed")
        assert code == 1
        assert set(failed) == {("node1", "ceph.s3_round_trip"), ("node1", "ceph.rgw_service_active")}
        message = failed[("node1", "ceph.s3_round_trip")]
        assert f"gateway rgw.node1 (http://{lab.node_ip('node1')}:7480)" in message, message
    finally:
        assert ssh(lab, "node1", "systemctl start ceph-radosgw@rgw.node1").returncode == 0
    smoke_green(tmp_path)


def test_rolling_upgrade_restarts_daemons_host_by_host(ceph_lab: CephLab, tmp_path: Path):
    lab = ceph_lab.lab
    before = {node: ssh(lab, node, "pidof ceph-osd").stdout.strip() for node in lab.node_names()}
    started = time.monotonic()
    run = provision.run_playbook(
        "lab",
        "ceph_upgrade.yml",
        log_dir=ceph_lab.log_dir / "upgrade",
        extra_args=["-e", "ceph_upgrade_restart_all=true"],
    )
    assert run.ok, f"upgrade failed on {run.failed_hosts}; see {run.log_path}"
    print(f"\nrolling upgrade (restart of every daemon): {time.monotonic() - started:.0f} s")
    log = run.log_path.read_text()
    osd_plays = [line for line in log.splitlines() if line.startswith("PLAY [Ceph upgrade | OSDs")]
    assert len(osd_plays) == 3  # serial: one play batch per OSD host
    after = {node: ssh(lab, node, "pidof ceph-osd").stdout.strip() for node in lab.node_names()}
    assert all(after[n] and after[n] != before[n] for n in before), (before, after)
    assert "noout" not in ceph(lab, "osd", "dump")["flags"]
    smoke_green(tmp_path, bound_s=60)


def test_cold_restart_of_every_node_recovers_without_manual_steps(ceph_lab: CephLab, tmp_path: Path):
    lab = ceph_lab.lab
    epoch = ceph(lab, "osd", "dump")["epoch"]
    started = time.monotonic()
    with ThreadPoolExecutor(len(lab.node_names())) as pool:
        list(pool.map(lambda node: nodes.stop(lab, node), lab.node_names()))
        for node in lab.node_names():
            nodes.boot(lab, node)
        list(pool.map(lambda node: nodes.wait_for_ssh(lab, node), lab.node_names()))
    booted = time.monotonic()

    seen: list[str] = []

    def osds_restarted() -> bool:
        proc = ssh(lab, "node1", "timeout 20 ceph --connect-timeout 10 osd dump -f json")
        if proc.returncode != 0:
            seen[:] = [f"osd dump failed: {proc.stderr.strip()[-300:]}"]
            return False
        osds = json.loads(proc.stdout)["osds"]
        seen[:] = [f"osd.{o['osd']} up={o['up']} in={o['in']} up_from={o['up_from']}" for o in osds]
        return len(osds) == 3 and all(o["up"] and o["in"] and o["up_from"] > epoch for o in osds)

    try:
        wait_for("every OSD up again after the cold restart", HEALTHY_WITHIN_S, osds_restarted)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; before: epoch {epoch}; last seen: {seen}\n{osd_units(lab)}") from None
    smoke_green(tmp_path)
    print(
        f"\ncold restart: nodes SSH-ready {booted - started:.0f} s, smoke green "
        f"{time.monotonic() - booted:.0f} s after boot"
    )


def osd_units(lab: LabConfig) -> str:
    """Each node's OSD units (state, restarts, result) and their last journal lines: why one stayed down."""
    command = (
        "systemctl show -p Id,ActiveState,SubState,Result,NRestarts 'ceph-osd@*'; "
        "journalctl -b -u 'ceph-osd@*' -n 15 --no-pager"
    )
    return "\n".join(f"--- {node}\n{ssh(lab, node, command).stdout}" for node in lab.node_names())


def test_benchmark_script_runs(ceph_lab: CephLab):
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "ceph_bench.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PLATFORM_LAB_ID": ceph_lab.lab.lab_id},
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    for label in ("raw disk write", "S3 put 1 MiB", "S3 get 64 MiB", "rados bench write"):
        assert label in proc.stdout, proc.stdout
