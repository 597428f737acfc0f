"""etcd on a real 4-node lab (node1-node3 members, node4 the snapshot backup host): converge, a second
converge changes nothing, mutual TLS from the host, and the smoke suite against injected faults: a stopped
member, lost quorum, a certificate near expiry, a NOSPACE alarm, a replaced member; the restore drill.

Every fault test restores the cluster before it ends (the module's lab is torn down afterwards anyway).
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from platformctl import provision
from platformctl.lab import manager, nodes
from platformctl.lab.config import LabConfig
from platformctl.paths import PLAYBOOKS_DIR, REPO_ROOT
from tests.lab.conftest import lab_id

LAB_PURPOSE = "etcd"
NODES = 4  # group_layout keeps etcd odd: node1-node3; node4 receives snapshot copies
MEMBERS = ("node1", "node2", "node3")
BIN = Path(sys.executable).parent
ETCDCTL_ENV = "set -a; . /etc/etcd/etcdctl.env; set +a; "


def ssh(lab: LabConfig, node: str, command: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        nodes.ssh_command(lab, node, command), capture_output=True, text=True, timeout=timeout, check=False
    )


def credentials(lab: LabConfig) -> Path:
    return REPO_ROOT / "stacks" / "lab" / "credentials" / lab.lab_id


@pytest.fixture(scope="module")
def lab() -> Iterator[LabConfig]:
    ident = lab_id(LAB_PURPOSE)
    leftovers: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PLATFORM_LAB_ID", ident)
        manager.down(ident)
        try:
            made = manager.up(NODES, ident).lab
            shutil.rmtree(credentials(made), ignore_errors=True)
            first = provision.run_playbook("lab", "etcd.yml")
            assert first.ok, f"first converge failed on {first.failed_hosts}; see {first.log_path}"
            print(f"\nfirst converge of etcd.yml: {first.duration_s:.1f} s, changed={first.changed}")
            yield made
        finally:
            leftovers = manager.down(ident)
            shutil.rmtree(REPO_ROOT / "stacks" / "lab" / "credentials" / ident, ignore_errors=True)
    assert not leftovers, f"lab teardown left: {leftovers}"


def playbook(name: str, *extra: str, limit: str | None = None) -> provision.PlaybookResult:
    result = provision.run_playbook("lab", name, limit=limit, extra_args=list(extra))
    assert result.ok, f"{name} {' '.join(extra)} failed on {result.failed_hosts}; see {result.log_path}"
    return result


def smoke(tmp_path: Path) -> tuple[int, dict]:
    report = tmp_path / "smoke.json"
    proc = subprocess.run(
        [str(BIN / "platformctl"), "smoke", "--stack", "lab", "--report", str(report), "-k", "etcd"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert report.exists(), proc.stdout + proc.stderr
    return proc.returncode, json.loads(report.read_text())


def rows(report: dict, status: str = "failed") -> dict[tuple[str, str], str]:
    return {(r["host"], r["check"]): r["message"] for r in report["results"] if r["status"] == status}


def assert_green(tmp_path: Path) -> None:
    code, report = smoke(tmp_path)
    bad = [
        (r["host"], r["check"], r["status"], r["message"])
        for r in report["results"]
        if r["status"] != "passed"
    ]
    assert (code, bad) == (0, [])
    assert {r["host"] for r in report["results"]} == set(MEMBERS)


def wait_healthy(lab: LabConfig) -> None:
    out = ssh(
        lab,
        "node1",
        ETCDCTL_ENV + "for i in $(seq 60); do etcdctl endpoint health >/dev/null 2>&1 "
        "&& exit 0; sleep 1; done; etcdctl endpoint health",
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_second_converge_changes_nothing(lab):
    again = playbook("etcd.yml")
    changed = {host: counts["changed"] for host, counts in again.recap.items() if counts["changed"]}
    assert changed == {}, f"not idempotent: {changed}; see {again.log_path}"
    print(f"\nre-converge of etcd.yml: {again.duration_s:.1f} s, changed=0")


def test_smoke_is_green_on_the_converged_cluster(lab, tmp_path):
    assert_green(tmp_path)


def test_mutual_tls_from_the_host_and_plaintext_refused(lab):
    client = credentials(lab) / "etcd" / "client"
    endpoints = json.loads((client / "endpoints.json").read_text())
    assert sorted(endpoints["members"]) == list(MEMBERS)
    url = endpoints["members"]["node1"]
    mutual = ssl.create_default_context(cafile=endpoints["ca"])
    mutual.load_cert_chain(endpoints["cert"], endpoints["key"])
    # A write and a read through the gRPC gateway with the consumer certificate.
    key, value = b64encode(b"/test/tls").decode(), b64encode(b"from-the-host").decode()
    put = urllib.request.Request(f"{url}/v3/kv/put", data=json.dumps({"key": key, "value": value}).encode())
    assert urllib.request.urlopen(put, context=mutual, timeout=10).status == 200
    get = urllib.request.Request(f"{url}/v3/kv/range", data=json.dumps({"key": key}).encode())
    kvs = json.load(urllib.request.urlopen(get, context=mutual, timeout=10))["kvs"]
    assert [kv["value"] for kv in kvs] == [value]
    # The CA alone (no client certificate) is refused during the handshake.
    server_only = ssl.create_default_context(cafile=endpoints["ca"])
    with pytest.raises((ssl.SSLError, urllib.error.URLError)):
        urllib.request.urlopen(f"{url}/health", context=server_only, timeout=10)
    # Plaintext HTTP on the client and peer ports gets no answer.
    for port in (2379, 2380):
        plain = url.replace("https://", "http://").replace(":2379", f":{port}")
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            urllib.request.urlopen(f"{plain}/health", timeout=10)


def test_one_member_stopped_is_down_but_the_cluster_quorate(lab, tmp_path):
    assert ssh(lab, "node2", "systemctl stop etcd").returncode == 0
    try:
        code, report = smoke(tmp_path)
        failed = rows(report)
        assert code == 1
        assert list(failed) == [("node2", "etcd.member_healthy")]
        message = failed["node2", "etcd.member_healthy"]
        assert message.startswith("node2: member node2 is down (etcd.service inactive")
        assert "still quorate: 2 of 3 members healthy (node1, node3)" in message
    finally:
        assert ssh(lab, "node2", "systemctl start etcd").returncode == 0
    wait_healthy(lab)
    assert_green(tmp_path)  # member restarted: green again


def test_two_members_stopped_is_quorum_lost(lab, tmp_path):
    for node in ("node2", "node3"):
        assert ssh(lab, node, "systemctl stop etcd").returncode == 0
    try:
        code, report = smoke(tmp_path)
        failed = rows(report)
        assert code == 1
        for member in MEMBERS:
            assert "quorum lost: 0 of 3 members healthy" in failed[member, "etcd.cluster_quorate"]
            assert "quorum lost" in failed[member, "etcd.member_healthy"]
        assert "member node1 runs but is unhealthy" in failed["node1", "etcd.member_healthy"]
        for member in ("node2", "node3"):
            assert f"member {member} is down" in failed[member, "etcd.member_healthy"]
    finally:
        for node in ("node2", "node3"):
            ssh(lab, node, "systemctl start --no-block etcd")
    wait_healthy(lab)
    assert_green(tmp_path)


def test_certificate_near_expiry_is_flagged_then_renewed(lab, tmp_path):
    # Re-issue node2's certificates for 10 days (renewal forced by a threshold above their remaining life).
    playbook("etcd.yml", "-e", "etcd_cert_days=10", "-e", "etcd_cert_renew_days=400", limit="node2")
    try:
        code, report = smoke(tmp_path)
        failed = rows(report)
        assert code == 1 and list(failed) == [("node2", "etcd.certificates_valid")]
        message = failed["node2", "etcd.certificates_valid"]
        assert "/etc/etcd/pki/server.crt expires in 10 days" in message and "want at least 30 days" in message
    finally:
        renewed = playbook("etcd.yml", limit="node2")  # 10 days left < etcd_cert_renew_days: renewed
    assert renewed.recap["node2"]["changed"] > 0
    assert_green(tmp_path)


def test_nospace_alarm_is_flagged_then_recovered(lab, tmp_path):
    playbook("etcd.yml", "-e", "etcd_quota_backend_bytes=1048576", limit="node3")
    try:
        fill = ssh(
            lab,
            "node1",
            ETCDCTL_ENV + "for i in $(seq 12); do head -c 300000 /dev/urandom "
            "| base64 -w0 | etcdctl put /fill/$i >/dev/null 2>&1; done; "
            "etcdctl alarm list",
        )
        assert "NOSPACE" in fill.stdout, fill.stdout + fill.stderr
        code, report = smoke(tmp_path)
        failed = rows(report)
        assert code == 1 and list(failed) == [("node3", "etcd.no_alarms")]
        message = failed["node3", "etcd.no_alarms"]
        assert message.startswith("node3: alarm NOSPACE raised by member node3")
        assert "quota 1048576" in message
    finally:
        playbook("etcd.yml", limit="node3")  # the stack's quota back
        defrag = playbook("etcd_defrag.yml")
    assert "(disarmed)" in defrag.log_path.read_text()
    assert ssh(lab, "node1", ETCDCTL_ENV + "etcdctl del --prefix /fill/").returncode == 0
    assert_green(tmp_path)


def test_restore_drill_from_the_backup_host_keeps_every_key(lab):
    drill = playbook("etcd_restore_drill.yml")
    log = drill.log_path.read_text()
    for member in MEMBERS:
        assert f"{member}: 500 of 500 marker keys intact (same digest)" in log
    assert "restored from node4:/srv/etcd-snapshots/node1/" in log
    copies = ssh(
        lab, "node4", "ls /srv/etcd-snapshots/node1 /srv/etcd-snapshots/node2 /srv/etcd-snapshots/node3"
    )
    assert copies.returncode == 0 and copies.stdout.count(".db") >= 3
    leftovers = ssh(
        lab,
        "node1",
        ETCDCTL_ENV + "etcdctl get --prefix /restore-drill/ --keys-only | wc -l; "
        "systemctl is-active etcd-restore-drill || true",
    )
    assert leftovers.stdout.split()[0] == "0" and "inactive" in leftovers.stdout


def test_replaced_member_rejoins_and_the_cluster_is_green(lab, tmp_path):
    def member_ids() -> dict[str, str]:
        out = ssh(lab, "node1", ETCDCTL_ENV + "etcdctl member list -w json")
        return {m.get("name", ""): f"{m['ID']:x}" for m in json.loads(out.stdout)["members"]}

    before = member_ids()
    # node3's disk is lost: etcd stopped, its data gone.
    assert ssh(lab, "node3", "systemctl stop etcd && rm -rf /var/lib/etcd/data/member").returncode == 0
    code, report = smoke(tmp_path)
    assert code == 1 and list(rows(report)) == [("node3", "etcd.member_healthy")]
    playbook("etcd_replace_member.yml", "-e", "etcd_replace_member=node3")
    after = member_ids()
    assert set(after) == set(MEMBERS) and after["node3"] != before["node3"]
    assert after["node1"] == before["node1"] and after["node2"] == before["node2"]
    assert_green(tmp_path)  # hashkv agreement includes the new node3


def test_an_even_member_count_is_refused_before_any_change(lab, tmp_path):
    inventory = yaml.safe_load(lab.inventory_path.read_text())
    inventory["all"]["children"]["etcd"]["hosts"] = {"node1": None, "node2": None}
    path = lab.inventory_path.parent / f"inventory.{lab.lab_id}-even.yml"  # beside group_vars/
    path.write_text(yaml.safe_dump(inventory))
    try:
        command = [str(BIN / "ansible-playbook"), "-i", str(path), str(PLAYBOOKS_DIR / "etcd.yml")]
        proc = subprocess.run(
            command, capture_output=True, text=True, timeout=120, env=provision.ansible_env(), check=False
        )
    finally:
        path.unlink()
    assert proc.returncode != 0
    assert "inventory group etcd has 2 hosts (node1, node2), but etcd needs an odd member" in proc.stdout
    assert "node1                      : ok=0" not in proc.stdout and "TASK [etcd :" not in proc.stdout
