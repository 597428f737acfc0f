"""Ceph cluster health, seen from each monitor host with the admin keyring: the monitor daemon, health (OK, or
only warnings the stack accepts with a reason), quorum, an active manager, every OSD up and in, every PG
active+clean, capacity below ceph_common_max_used_percent, and (where CephFS exists) active metadata servers.

One remote command per monitor reads everything (the ceph CLI calls run side by side); when the cluster
does not answer, that is reported once, as cluster_reachable, and the checks that need its answer skip. Every
failure names the daemon (osd.N and its host, monitor, manager) or the pool concerned.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

import pytest
from testinfra.host import Host

from smoke_tests import facts
from smoke_tests.inventory import Inventory
from smoke_tests.rolevars import RoleVars

pytestmark = pytest.mark.smoke(group="ceph_mon", role="ceph_common")

CLUSTER_TIMEOUT_S = 10  # ceph --connect-timeout: a cluster without quorum must fail the check, not hang it
QUERIES = {
    "status": "status",
    "health": "health detail",
    "quorum": "quorum_status",
    "mgr": "mgr stat",
    "tree": "osd tree",
    "pgs": "pg dump pgs_brief",
    "df": "df",
    "fs": "fs dump",
}
# Runs the queries side by side on the monitor host and prints {name: {rc, out, err}} as one JSON document.
REMOTE = """
import json, subprocess, sys
from concurrent.futures import ThreadPoolExecutor
queries, timeout = json.loads(sys.argv[1]), int(sys.argv[2])
def run(args):
    cmd = ["timeout", str(timeout + 5), "ceph", "--connect-timeout", str(timeout), *args.split(), "-fjson"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    return {"rc": proc.returncode, "out": proc.stdout, "err": proc.stderr.strip()[-500:]}
with ThreadPoolExecutor(len(queries)) as pool:
    results = dict(zip(queries, pool.map(run, queries.values())))
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def cluster(host: Host) -> dict[str, Any] | str:
    """Every query's parsed answer, or why the cluster could not be read."""
    out = host.run("python3 -c %s %s %s", REMOTE, json.dumps(QUERIES), str(CLUSTER_TIMEOUT_S))
    if out.rc != 0:
        return f"could not run the ceph CLI: {out.stderr.strip()[-300:] or f'exit {out.rc}'}"
    answers = json.loads(out.stdout)
    failed = {name: a for name, a in answers.items() if a["rc"] != 0}
    if failed:
        name, answer = next(iter(failed.items()))
        reason = (
            "timed out (no monitor quorum?)"
            if answer["rc"] == 124
            else answer["err"] or f"exit {answer['rc']}"
        )
        return f"`ceph {QUERIES[name]}` failed: {reason}"
    return {name: json.loads(a["out"]) for name, a in answers.items()}


@pytest.fixture
def state(cluster: dict[str, Any] | str) -> dict[str, Any]:
    if isinstance(cluster, str):
        pytest.skip("the cluster does not answer (see ceph.cluster_reachable)")
    return cluster


def test_mon_service_active(host: Host, inventory_hostname: str) -> None:
    unit = f"ceph-mon@{inventory_hostname}.service"
    state = facts.unit_state(host, unit)
    assert state["ActiveState"] == "active" and state["UnitFileState"] == "enabled", (
        f"monitor mon.{inventory_hostname}: {unit} is {facts.describe_unit(state)}, want active and enabled"
    )


def test_cluster_reachable(cluster: dict[str, Any] | str) -> None:
    assert not isinstance(cluster, str), f"the cluster does not answer the admin CLI here: {cluster}"


def test_health(state: dict[str, Any], role_vars: RoleVars, smoke_note: Callable[[str], None]) -> None:
    """HEALTH_OK, or HEALTH_WARN whose every check is listed in ceph_common_health_accepted with a reason."""
    accepted = {
        str(a["check"]): str(a.get("reason", "")) for a in role_vars["ceph_common_health_accepted"] or []
    }
    unreasoned = [code for code, reason in accepted.items() if not reason.strip()]
    assert not unreasoned, f"ceph_common_health_accepted lists {', '.join(unreasoned)} without a reason"
    health = state["health"]
    checks: dict[str, Any] = health.get("checks", {})
    problems = []
    for code, check in sorted(checks.items()):
        if code in accepted:
            continue
        details = [d.get("message", "") for d in check.get("detail", [])][:5]
        summary = check.get("summary", {}).get("message", "")
        problems.append(
            f"{code} ({check.get('severity', '?')}): {summary}"
            + (f" [{'; '.join(details)}]" if details else "")
        )
    status = health.get("status", "unknown")
    assert status == "HEALTH_OK" or (not problems and status == "HEALTH_WARN" and checks), f"{status}: " + (
        " | ".join(problems) or "no health checks reported"
    )
    if checks:
        smoke_note("accepted warnings: " + "; ".join(f"{code} ({accepted[code]})" for code in sorted(checks)))


def test_mons_in_quorum(state: dict[str, Any]) -> None:
    quorum = state["quorum"]
    names = [mon["name"] for mon in quorum.get("monmap", {}).get("mons", [])]
    out = [f"mon.{name}" for name in names if name not in quorum.get("quorum_names", [])]
    assert names and not out, (
        f"monitors out of quorum: {', '.join(out) or 'all'} "
        f"(quorum: {', '.join(quorum.get('quorum_names', [])) or 'none'})"
    )


def test_mgr_active(state: dict[str, Any]) -> None:
    mgr = state["mgr"]
    assert mgr.get("available") and mgr.get("active_name"), (
        f"no manager is active (mgr.{mgr.get('active_name') or 'none'} not available, "
        f"{mgr.get('num_standby', 0)} standby): see the ceph-mgr@ units on the ceph_mgr hosts"
    )


def osd_hosts(tree: dict[str, Any]) -> dict[int, str]:
    """OSD id -> name of the CRUSH host bucket holding it."""
    where: dict[int, str] = {}
    for node in tree.get("nodes", []):
        if node.get("type") == "host":
            for child in node.get("children", []):
                where[child] = node["name"]
    return where


def test_osds_up_and_in(state: dict[str, Any]) -> None:
    tree = state["tree"]
    where = osd_hosts(tree)
    osds = [n for n in tree.get("nodes", []) if n.get("type") == "osd"] + list(tree.get("stray", []))
    assert osds, "no OSDs exist in the cluster"
    bad = []
    for osd in osds:
        wrong = []
        if osd.get("status") != "up":
            wrong.append(osd.get("status") or "down")
        if not osd.get("reweight"):
            wrong.append("out")
        if osd["id"] not in where:
            wrong.append("not in the CRUSH map")
        if wrong:
            bad.append(f"{osd['name']} on {where.get(osd['id'], 'no host')} is {' and '.join(wrong)}")
    assert not bad, f"{len(bad)} of {len(osds)} OSDs not up and in: " + "; ".join(bad)


def test_pgs_active_clean(state: dict[str, Any]) -> None:
    pools = {str(p["id"]): p["name"] for p in state["df"].get("pools", [])}
    stats = state["pgs"].get("pg_stats", state["pgs"]) if isinstance(state["pgs"], dict) else state["pgs"]
    unclean: dict[str, Counter[str]] = defaultdict(Counter)
    for pg in stats:
        if pg["state"] != "active+clean":
            unclean[pools.get(pg["pgid"].split(".")[0], f"pool {pg['pgid'].split('.')[0]}")][pg["state"]] += 1
    assert stats, "the cluster reports no placement groups"
    count = sum(sum(states.values()) for states in unclean.values())
    by_pool = [
        f"pool {pool}: " + ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
        for pool, states in sorted(unclean.items())
    ]
    assert not unclean, f"{count} of {len(stats)} PGs not active+clean: " + "; ".join(by_pool)


def test_capacity_below_threshold(state: dict[str, Any], role_vars: RoleVars) -> None:
    limit = float(role_vars["ceph_common_max_used_percent"])
    df = state["df"]
    raw = 100 * float(df["stats"].get("total_used_raw_ratio", 0))
    full = [f"raw capacity {raw:.1f}% used"] if raw >= limit else []
    full += [
        f"pool {p['name']} {100 * float(p['stats'].get('percent_used', 0)):.1f}% used"
        for p in df.get("pools", [])
        if 100 * float(p["stats"].get("percent_used", 0)) >= limit
    ]
    assert not full, f"above ceph_common_max_used_percent ({limit:g}%): " + "; ".join(full)


def test_filesystems_served(
    state: dict[str, Any], inventory: Inventory, smoke_note: Callable[[str], None]
) -> None:
    """Every CephFS file system has as many active MDS daemons as its max_mds."""
    filesystems = state["fs"].get("filesystems", [])
    if not filesystems:
        smoke_note("no CephFS file system in this cluster (no ceph_mds hosts)")
        return
    bad = []
    for fs in filesystems:
        mdsmap = fs.get("mdsmap", {})
        daemons = {info["name"]: info["state"] for info in mdsmap.get("info", {}).values()}
        active = [name for name, st in daemons.items() if st == "up:active"]
        if len(active) < int(mdsmap.get("max_mds", 1)):
            states = ", ".join(f"mds.{n} {st}" for n, st in sorted(daemons.items())) or "no MDS daemon up"
            hosts = ", ".join(inventory.hosts("ceph_mds")) or "none"
            states += f"; ceph_mds hosts: {hosts}, units ceph-mds@<host>"
            bad.append(
                f"file system {mdsmap.get('fs_name', fs.get('id'))}: {len(active)} of "
                f"{mdsmap.get('max_mds', 1)} ranks active ({states})"
            )
    assert not bad, "; ".join(bad)
