"""Role `etcd` on its members: each member's health and the cluster's quorum, one leader in one term, hashkv
agreement, alarms, certificate expiry and snapshot freshness.

Every member looks at the whole cluster through its own client certificate and the endpoints file the role
wrote, so a stopped member is reported on its own row ("down") while the others say whether the cluster is
still quorate. Checks that cannot mean anything without a running member or a quorum skip, naming the check
that failed, so one fault is reported once per member.
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from testinfra.host import Host

from smoke_tests import facts
from smoke_tests.rolevars import RoleVars

pytestmark = pytest.mark.smoke(group="etcd", role="etcd")

UNIT = "etcd.service"
SNAPSHOT_TIMER = "etcd-snapshot.timer"
SNAPSHOT_SERVICE = "etcd-snapshot.service"
CERTS = ("ca", "server", "peer", "client")
ALARMS = {1: "NOSPACE", 2: "CORRUPT", "NOSPACE": "NOSPACE", "CORRUPT": "CORRUPT"}
# etcdctl gives up on a dead endpoint after DIAL_TIMEOUT; `timeout` bounds a wedged call.
DIAL_TIMEOUT, COMMAND_TIMEOUT, CALL_TIMEOUT = "2s", "3s", 15
SECTION = "=== "


@dataclass
class Cluster:
    """One member's view of the cluster, read with a single remote command."""

    member: str
    endpoints: dict[str, str]  # member name -> client URL (the role's endpoints file)
    health: dict[str, tuple[bool, str]] = field(default_factory=dict)  # name -> (healthy, error)
    status: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> endpoint status (answering)
    alarms: list[dict[str, Any]] | None = None  # None: could not be listed
    alarm_error: str = ""

    @property
    def names(self) -> list[str]:
        return sorted(self.endpoints)

    @property
    def healthy(self) -> list[str]:
        return sorted(n for n, (ok, _) in self.health.items() if ok)

    @property
    def quorum(self) -> int:
        return len(self.endpoints) // 2 + 1

    @property
    def quorate(self) -> bool:
        return len(self.healthy) >= self.quorum

    def name_of_id(self, member_id: int) -> str:
        if not member_id:
            return "none"
        for name, status in self.status.items():
            if status["header"]["member_id"] == member_id:
                return name
        return f"member {member_id:x}"

    def summary(self) -> str:
        healthy, running = self.healthy, sorted(self.status)
        text = f"{len(healthy)} of {len(self.endpoints)} members healthy ({', '.join(healthy) or 'none'})"
        down = [n for n in self.names if n not in running]
        if down:
            text += f", not answering: {', '.join(down)}"
        return text


def _etcdctl(role_vars: RoleVars, endpoints: list[str], args: str) -> str:
    pki = role_vars["etcd_pki_dir"]
    tls = f"--cacert={pki}/ca.crt --cert={pki}/client.crt --key={pki}/client.key"
    return (
        f"timeout {CALL_TIMEOUT} etcdctl {tls} --dial-timeout={DIAL_TIMEOUT} "
        f"--command-timeout={COMMAND_TIMEOUT} --endpoints={shlex.quote(','.join(endpoints))} {args}"
    )


def _sections(text: str) -> dict[str, str]:
    out: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith(SECTION):
            current = line[len(SECTION) :].strip()
            out[current] = []
        elif current:
            out[current].append(line)
    return {k: "\n".join(v) for k, v in out.items()}


def _json(text: str, kind: type) -> Any:
    """The first line of etcdctl's output that parses as JSON of `kind` (its warnings are JSON log lines)."""
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, kind):
            return value
    return None


@pytest.fixture(scope="module")
def cluster(host: Host, role_vars: RoleVars, inventory_hostname: str) -> Cluster:
    path = role_vars["etcd_endpoints_file"]
    endpoints_file = host.file(path)
    assert endpoints_file.exists, (
        f"endpoints file {path} is missing (etcd_endpoints_file): run playbooks/etcd.yml"
    )
    endpoints: dict[str, str] = json.loads(endpoints_file.content_string)
    urls = list(endpoints.values())
    # All calls at once: a dead endpoint costs a full command timeout, and endpoint status asks in turn.
    calls = [("health", _etcdctl(role_vars, urls, "endpoint health -w json"))]
    calls += [
        (f"status {i}", _etcdctl(role_vars, [url], "endpoint status -w json")) for i, url in enumerate(urls)
    ]
    calls += [("alarms", _etcdctl(role_vars, urls, "alarm list -w json"))]
    script = ["d=$(mktemp -d)"]
    script += [f'{cmd} > "$d/{i}" 2>&1 &' for i, (_, cmd) in enumerate(calls)]
    script += ["wait"]
    script += [f"echo '{SECTION}{name}'; cat \"$d/{i}\"" for i, (name, _) in enumerate(calls)]
    script += ['rm -rf "$d"']
    sections = _sections(host.run("\n".join(script)).stdout)
    view = Cluster(inventory_hostname, endpoints)
    by_url = {url: name for name, url in endpoints.items()}
    for entry in _json(sections.get("health", ""), list) or []:
        name = by_url.get(entry.get("endpoint"), entry.get("endpoint"))
        view.health[name] = (bool(entry.get("health")), entry.get("error", ""))
    for i in range(len(urls)):
        for entry in _json(sections.get(f"status {i}", ""), list) or []:
            view.status[by_url.get(entry["Endpoint"], entry["Endpoint"])] = entry["Status"]
    alarms = _json(sections.get("alarms", ""), dict)
    if isinstance(alarms, dict):
        view.alarms = alarms.get("alarms", [])
    else:
        view.alarm_error = (sections.get("alarms", "").strip().splitlines() or ["no output"])[-1]
    return view


@pytest.fixture
def member_up(cluster: Cluster) -> None:
    if cluster.member not in cluster.status:
        pytest.skip(f"member {cluster.member} does not answer (see etcd.member_healthy)")


@pytest.fixture
def quorate(cluster: Cluster, member_up: None) -> None:
    if not cluster.quorate:
        pytest.skip("the cluster has no quorum (see etcd.cluster_quorate)")


def test_service_enabled(host: Host) -> None:
    state = facts.unit_state(host, UNIT)
    assert state["UnitFileState"] == "enabled", f"{UNIT} is not enabled at boot: {facts.describe_unit(state)}"


def test_member_healthy(host: Host, cluster: Cluster) -> None:
    """This member answers a linearizable read; otherwise say whether it is down and what the cluster is."""
    healthy, error = cluster.health.get(cluster.member, (False, "no answer"))
    if healthy:
        return
    unit = facts.unit_state(host, UNIT)
    if unit["ActiveState"] != "active" or cluster.member not in cluster.status:
        what = f"member {cluster.member} is down ({UNIT} {facts.describe_unit(unit)})"
    else:
        what = f"member {cluster.member} runs but is unhealthy ({error or 'no answer'})"
    if cluster.quorate:
        verdict = f"the cluster is still quorate: {cluster.summary()}"
    else:
        verdict = f"quorum lost: {cluster.summary()}, {cluster.quorum} needed"
    raise AssertionError(f"{what}; {verdict}")


def test_cluster_quorate(cluster: Cluster) -> None:
    assert cluster.quorate, (
        f"quorum lost: {cluster.summary()}, {cluster.quorum} of "
        f"{len(cluster.endpoints)} needed; writes and linearizable reads fail"
    )


def test_one_leader_one_term(cluster: Cluster, quorate: None) -> None:
    leaders = {s.get("leader", 0) for s in cluster.status.values()}
    terms = {s["raftTerm"] for s in cluster.status.values()}
    views = ", ".join(
        f"{n}: leader {cluster.name_of_id(s.get('leader', 0))} term {s['raftTerm']}"
        for n, s in sorted(cluster.status.items())
    )
    assert len(leaders) == 1 and 0 not in leaders, f"members disagree on the leader: {views}"
    assert len(terms) == 1, f"members disagree on the raft term: {views}"


def test_hashkv_agree(host: Host, role_vars: RoleVars, cluster: Cluster, quorate: None) -> None:
    """Every answering member hashes the same key-value history at the lowest revision they all have."""
    revision = min(s["header"]["revision"] for s in cluster.status.values())
    urls = [cluster.endpoints[n] for n in sorted(cluster.status)]
    out = host.run(_etcdctl(role_vars, urls, f"endpoint hashkv --rev={revision} -w json"))
    entries = _json(out.stdout, list) or []
    assert entries, f"endpoint hashkv --rev={revision} gave no answer: {out.stderr.strip()[-300:]}"
    by_url = {url: name for name, url in cluster.endpoints.items()}
    hashes = {by_url.get(e["Endpoint"], e["Endpoint"]): e["HashKV"]["hash"] for e in entries}
    assert len(set(hashes.values())) == 1, (
        f"members disagree on the key-value hash at revision {revision}: "
        + ", ".join(f"{n} {h}" for n, h in sorted(hashes.items()))
        + "; a member whose data diverged must be replaced (playbooks/etcd_replace_member.yml)"
    )


def test_no_alarms(host: Host, cluster: Cluster, role_vars: RoleVars, quorate: None) -> None:
    assert cluster.alarms is not None, f"alarm list failed: {cluster.alarm_error}"
    member_id = cluster.status[cluster.member]["header"]["member_id"]
    mine = [a for a in cluster.alarms if a.get("memberID") == member_id]
    if not mine:
        return
    kinds = sorted({ALARMS.get(a.get("alarm"), str(a.get("alarm"))) for a in mine})
    status = cluster.status[cluster.member]
    detail = ""
    if "NOSPACE" in kinds:
        config = yaml.safe_load(host.file(role_vars["etcd_config_file"]).content_string) or {}
        quota = config.get("quota-backend-bytes", "unknown")
        detail = (
            f"; database {status['dbSize']} bytes, quota {quota} "
            "(etcd_quota_backend_bytes): the cluster refuses writes until space is freed (compaction, "
            "playbooks/etcd_defrag.yml disarms) or the quota is raised"
        )
    raise AssertionError(f"alarm {', '.join(kinds)} raised by member {cluster.member}{detail}")


def test_certificates_valid(host: Host, role_vars: RoleVars, inventory_hostname: str) -> None:
    pki = role_vars["etcd_pki_dir"]
    want_days = int(role_vars["etcd_cert_min_valid_days"])
    paths = [f"{pki}/{name}.crt" for name in CERTS]
    out = host.run(
        "for f in "
        + " ".join(shlex.quote(p) for p in paths)
        + '; do printf "%s " "$f"; openssl x509 -noout -enddate -in "$f" 2>&1 | head -1; done'
    )
    now = datetime.now(UTC)
    problems = []
    for line in out.stdout.splitlines():
        path, _, answer = line.partition(" ")
        if not answer.startswith("notAfter="):
            problems.append(f"{path} unreadable ({answer.strip() or 'missing'})")
            continue
        not_after = datetime.strptime(answer.removeprefix("notAfter=").strip(), "%b %d %H:%M:%S %Y %Z")
        days = (not_after.replace(tzinfo=UTC) - now).total_seconds() / 86400
        if days < want_days:
            problems.append(f"{path} expires in {days:.0f} days ({not_after:%Y-%m-%d})")
    assert len(out.stdout.splitlines()) == len(paths), (
        f"cannot read certificates in {pki}: {out.stderr.strip()}"
    )
    assert not problems, (
        f"member {inventory_hostname}: {'; '.join(problems)}, want at least {want_days} "
        "days (etcd_cert_min_valid_days); playbooks/etcd.yml renews certificates within "
        f"{role_vars['etcd_cert_renew_days']} days of expiry"
    )


@pytest.fixture
def snapshots_enabled(role_vars: RoleVars) -> None:
    if not role_vars["etcd_snapshot_enabled"]:
        pytest.skip("etcd_snapshot_enabled is false: this stack takes no snapshots")


def test_snapshot_timer_active(host: Host, snapshots_enabled: None) -> None:
    state = facts.unit_state(host, SNAPSHOT_TIMER)
    assert state["ActiveState"] == "active" and state["UnitFileState"] == "enabled", (
        f"{SNAPSHOT_TIMER} is {facts.describe_unit(state)}, want active and enabled"
    )


def test_snapshot_recent(
    host: Host, role_vars: RoleVars, inventory_hostname: str, snapshots_enabled: None
) -> None:
    directory = role_vars["etcd_snapshot_dir"]
    max_age_min = int(role_vars["etcd_snapshot_max_age_minutes"])
    pattern = shlex.quote(inventory_hostname + "-*.db")
    out = host.run(
        f"find {shlex.quote(directory)} -maxdepth 1 -name {pattern} -printf '%T@ %f\\n' | sort -n | tail -1"
    )
    if not out.stdout.strip():
        raise AssertionError(
            f"member {inventory_hostname} has no snapshot in {directory} "
            f"(etcd_snapshot_dir); see journalctl -u {SNAPSHOT_SERVICE}"
        )
    stamp, name = out.stdout.split(maxsplit=1)
    age_min = (time.time() - float(stamp)) / 60
    assert age_min <= max_age_min, (
        f"member {inventory_hostname}: newest snapshot {directory}/{name.strip()} is {age_min:.0f} min old, "
        f"the schedule allows {max_age_min} (etcd_snapshot_max_age_minutes); "
        f"see journalctl -u {SNAPSHOT_SERVICE}"
    )


def test_snapshot_last_run_ok(
    host: Host, role_vars: RoleVars, inventory_hostname: str, snapshots_enabled: None
) -> None:
    """The last run took, verified and copied its snapshot everywhere configured."""
    path = f"{role_vars['etcd_snapshot_dir']}/last-run.json"
    last = host.file(path)
    if not last.exists:
        raise AssertionError(f"member {inventory_hostname} has never run {SNAPSHOT_SERVICE} ({path} missing)")
    outcome = json.loads(last.content_string)
    errors = "; ".join(outcome.get("errors", [])) or "unknown error"
    assert outcome.get("ok"), (
        f"member {inventory_hostname}: the snapshot run of {outcome.get('time')} failed: {errors}"
    )
