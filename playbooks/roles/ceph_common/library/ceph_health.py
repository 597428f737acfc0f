#!/usr/bin/python
"""Ansible module: wait until the cluster is healthy (or check once) and say precisely what is not."""

from __future__ import annotations

import json
import time

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
---
module: ceph_health
short_description: Wait for (or check) a healthy Ceph cluster
description:
  - Runs on a host with the client.admin keyring and reads C(ceph status -f json).
  - Healthy means HEALTH_OK, or HEALTH_WARN whose checks are all accepted; every monitor in quorum; a manager
    active; every OSD up and in; every placement group active+clean (unless I(require_clean) is false).
  - Fails after the last poll with the problems found, each naming the health check, daemon or PG state.
options:
  accepted:
    description: Health check codes that do not count as a problem (for example C(MON_DISK_LOW)).
    type: list
    elements: str
    default: []
  require_clean:
    description: Require every placement group to be active+clean.
    type: bool
    default: true
  retries:
    description: Polls after the first one (0 checks once).
    type: int
    default: 0
  delay:
    description: Seconds between polls.
    type: int
    default: 5
  purpose:
    description: Prefix of the failure message, saying what was waiting (for example C(refusing to upgrade)).
    type: str
    default: the cluster is not healthy
  timeout:
    description: Seconds one ceph CLI call may take to reach the monitors.
    type: int
    default: 20
author: GPU platform maintainers
"""

RETURN = r"""
problems:
  description: What is not healthy (empty when healthy).
  type: list
  elements: str
  returned: always
health:
  description: HEALTH_OK, HEALTH_WARN or HEALTH_ERR (or unknown when the cluster did not answer).
  type: str
  returned: always
polls:
  description: Number of polls made.
  type: int
  returned: always
"""


def _osdmap(status: dict) -> dict:
    osdmap = status.get("osdmap", {})
    return osdmap.get("osdmap", osdmap)  # Nautilus nests it; Octopus and later do not


def evaluate(status: dict, accepted: set[str], require_clean: bool = True) -> list[str]:
    """Problems in a `ceph status -f json` document; an empty list means healthy."""
    problems: list[str] = []
    health = status.get("health", {})
    checks = health.get("checks", {})
    open_checks = {code: check for code, check in checks.items() if code not in accepted}
    if health.get("status") != "HEALTH_OK" and (open_checks or not checks):
        details = "; ".join(
            f"{code}: {check.get('summary', {}).get('message', '')}"
            for code, check in sorted(open_checks.items())
        )
        problems.append(f"{health.get('status', 'no health')}" + (f" ({details})" if details else ""))
    monmap = status.get("monmap", {})
    quorum = status.get("quorum_names", [])
    mons = [mon["name"] for mon in monmap.get("mons", [])]  # `ceph status` lists names from Quincy on only
    out_of_quorum = [mon for mon in mons if mon not in quorum]
    if out_of_quorum or len(quorum) < monmap.get("num_mons", len(quorum)):
        problems.append(
            f"{len(quorum)} of {monmap.get('num_mons', len(mons))} monitors in quorum "
            f"({', '.join(quorum) or 'none'})"
            + (f"; out of quorum: {', '.join(out_of_quorum)}" if out_of_quorum else "")
        )
    if not status.get("mgrmap", {}).get("available", False):
        problems.append("no manager is active")
    osdmap = _osdmap(status)
    total, up, inn = osdmap.get("num_osds", 0), osdmap.get("num_up_osds", 0), osdmap.get("num_in_osds", 0)
    if total == 0:
        problems.append("no OSDs exist")
    elif up < total or inn < total:
        problems.append(f"OSDs: {up} of {total} up, {inn} of {total} in")
    if require_clean:
        pgmap = status.get("pgmap", {})
        unclean = {
            s["state_name"]: s["count"]
            for s in pgmap.get("pgs_by_state", [])
            if s["state_name"] != "active+clean"
        }
        if unclean:
            states = ", ".join(f"{count} {state}" for state, count in sorted(unclean.items()))
            problems.append(
                f"{sum(unclean.values())} of {pgmap.get('num_pgs', '?')} PGs not active+clean ({states})"
            )
    return problems


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "accepted": {"type": "list", "elements": "str", "default": []},
            "require_clean": {"type": "bool", "default": True},
            "retries": {"type": "int", "default": 0},
            "delay": {"type": "int", "default": 5},
            "purpose": {"type": "str", "default": "the cluster is not healthy"},
            "timeout": {"type": "int", "default": 20},
        },
        supports_check_mode=True,
    )
    params = module.params
    cmd = [
        "timeout",
        str(params["timeout"] + 5),
        "ceph",
        "--connect-timeout",
        str(params["timeout"]),
        "status",
        "-f",
        "json",
    ]
    problems: list[str] = []
    health = "unknown"
    polls = 0
    for attempt in range(params["retries"] + 1):
        if attempt:
            time.sleep(params["delay"])
        polls += 1
        rc, out, err = module.run_command(cmd)
        if rc != 0:
            problems, health = [f"ceph status failed: {err.strip() or f'exit {rc}'}"], "unknown"
            continue
        status = json.loads(out)
        health = status.get("health", {}).get("status", "unknown")
        problems = evaluate(status, set(params["accepted"]), params["require_clean"])
        if not problems:
            module.exit_json(changed=False, problems=[], health=health, polls=polls)
    module.fail_json(
        msg=f"{params['purpose']}: " + "; ".join(problems), problems=problems, health=health, polls=polls
    )


if __name__ == "__main__":
    main()
