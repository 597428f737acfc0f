"""site.yml against a real 3-node lab: converge, a second converge changes nothing (its Kubernetes layer ends
with its reason: the lab inventory turns it off), the smoke suite is
green, a stopped containerd is reported on exactly that host and check, and re-running the containerd
role keeps what other roles dropped into its drop-in directory."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from platformctl import provision
from platformctl.lab import nodes
from platformctl.lab.config import LabConfig

LAB_PURPOSE = "site"
PLATFORMCTL = Path(sys.executable).parent / "platformctl"

# A drop-in another role could own (not the CRI section, which containerd 1.x would replace wholesale).
FOREIGN_DROPIN = "/etc/containerd/conf.d/50-test-foreign.toml"
FOREIGN_BODY = "version = 2\\n\\n[metrics]\\n  grpc_histogram = true\\n"


def ssh(lab: LabConfig, node: str, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        nodes.ssh_command(lab, node, command), capture_output=True, text=True, timeout=60, check=False
    )


def smoke(tmp_path: Path) -> tuple[int, dict]:
    report = tmp_path / "smoke.json"
    proc = subprocess.run(
        [str(PLATFORMCTL), "smoke", "--stack", "lab", "--report", str(report)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return proc.returncode, json.loads(report.read_text())


def not_passed(report: dict) -> list[tuple[str, str, str, str]]:
    """Rows that are neither passed nor skipped (GPU checks skip, with a reason, on hosts without GPUs)."""
    return [
        (r["host"], r["check"], r["status"], r["message"])
        for r in report["results"]
        if r["status"] not in ("passed", "skipped")
    ]


def test_second_converge_changes_nothing(provisioned_lab):
    again = provision.run_playbook("lab", "site.yml")
    assert again.ok, again.failed_hosts
    assert set(provisioned_lab.node_names()) <= set(again.recap)  # plus localhost: inventory validation
    changed = {host: counts["changed"] for host, counts in again.recap.items() if counts["changed"]}
    assert changed == {}, f"not idempotent: {changed}; see {again.log_path}"
    # The last layer, Kubernetes, ends on every lab node with its reason (the lab inventory turns it off).
    log = again.log_path.read_text()
    skipped = "kubernetes skipped: kubernetes_enabled is false in the inventory"
    assert all(f"{node}: {skipped}" in log for node in provisioned_lab.node_names()), again.log_path


def test_smoke_is_green_on_the_converged_lab(provisioned_lab, tmp_path):
    code, report = smoke(tmp_path)
    assert (code, not_passed(report)) == (0, [])
    assert report["stack"] == "lab"
    hosts = {r["host"] for r in report["results"]}
    assert hosts == set(provisioned_lab.node_names())
    assert {"stack", "check", "host", "status", "message", "duration"} <= set(report["results"][0])


def test_stopped_containerd_is_reported_on_that_host_only(provisioned_lab, tmp_path):
    assert ssh(provisioned_lab, "node2", "systemctl stop containerd").returncode == 0
    try:
        code, report = smoke(tmp_path)
        failed = [(r["host"], r["check"]) for r in report["results"] if r["status"] == "failed"]
        assert code == 1
        assert failed == [("node2", "containerd.service_active")]
        message = next(r["message"] for r in report["results"] if r["status"] == "failed")
        assert message.startswith("node2:") and "inactive" in message
    finally:
        assert ssh(provisioned_lab, "node2", "systemctl start containerd").returncode == 0
    code, report = smoke(tmp_path)
    assert (code, not_passed(report)) == (0, [])


def test_containerd_role_keeps_other_roles_dropins(provisioned_lab):
    node = "node3"
    assert ssh(provisioned_lab, node, f"printf '{FOREIGN_BODY}' > {FOREIGN_DROPIN}").returncode == 0
    before = ssh(provisioned_lab, node, f"sha256sum {FOREIGN_DROPIN}").stdout
    rerun = provision.run_playbook("lab", "node_base.yml", extra_args=["--tags", "containerd"])
    assert rerun.ok, rerun.failed_hosts
    assert rerun.recap[node]["changed"] == 0
    after = ssh(provisioned_lab, node, f"sha256sum {FOREIGN_DROPIN}").stdout
    assert before == after and hashlib.sha256(b"").hexdigest() not in after
    dump = ssh(provisioned_lab, node, "containerd config dump")
    assert dump.returncode == 0, dump.stderr
    assert FOREIGN_DROPIN in dump.stdout and "grpc_histogram = true" in dump.stdout
    assert ssh(provisioned_lab, node, f"rm {FOREIGN_DROPIN} && systemctl restart containerd").returncode == 0
