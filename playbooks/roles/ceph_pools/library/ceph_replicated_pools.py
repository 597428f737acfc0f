#!/usr/bin/python
"""Ansible module: replicated pools with their size, min_size, autoscale mode and application."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
---
module: ceph_replicated_pools
short_description: Ensure replicated Ceph pools exist with the given replication and application
description:
  - Runs on a host with the client.admin keyring. Reads C(ceph osd pool ls detail), creates missing pools,
    and corrects size, min_size, the autoscale mode and the application of existing ones.
  - pg_num is applied at creation only; afterwards the autoscaler (or an operator) owns it.
options:
  pools:
    description: Pools, each C({name, application, pg_num, size, min_size, autoscale}) (autoscale a bool).
    type: list
    elements: dict
    required: true
  timeout:
    description: Seconds the ceph CLI may take to reach the monitors.
    type: int
    default: 30
author: GPU platform maintainers
"""

RETURN = r"""
commands:
  description: The ceph commands run (or, in check mode, that would run).
  type: list
  elements: list
  returned: always
"""

REQUIRED = ("name", "application", "pg_num", "size", "min_size", "autoscale")


def create_command(want: dict) -> list[str]:
    """`ceph` arguments creating a missing pool with its pg_num, size and autoscale mode in one step."""
    return [
        "osd",
        "pool",
        "create",
        want["name"],
        str(want["pg_num"]),
        str(want["pg_num"]),
        "replicated",
        f"--size={want['size']}",
        f"--autoscale-mode={'on' if want['autoscale'] else 'off'}",
    ]


def plan_pool(have: dict, want: dict) -> list[list[str]]:
    """`ceph` arguments, in order, that bring an existing pool (an entry of `ceph osd pool ls detail -f json`)
    to `want`."""
    name = want["name"]
    commands = []
    if have["size"] != want["size"]:
        commands.append(["osd", "pool", "set", name, "size", str(want["size"])])
    if have["min_size"] != want["min_size"]:
        commands.append(["osd", "pool", "set", name, "min_size", str(want["min_size"])])
    # min_size may never exceed size: when shrinking below the current min_size, lower min_size first.
    if want["size"] < have["min_size"]:
        commands.reverse()
    mode = "on" if want["autoscale"] else "off"
    if have.get("pg_autoscale_mode") != mode:
        commands.append(["osd", "pool", "set", name, "pg_autoscale_mode", mode])
    if want["application"] not in (have.get("application_metadata") or {}):
        commands.append(["osd", "pool", "application", "enable", name, want["application"]])
    return commands


def plan(existing: list[dict], desired: list[dict]) -> tuple[list[list[str]], dict[str, list[list[str]]]]:
    """(create commands for missing pools, corrections by pool name for the existing ones)."""
    by_name = {pool["pool_name"]: pool for pool in existing}
    creates = [create_command(want) for want in desired if want["name"] not in by_name]
    fixes = {
        want["name"]: plan_pool(by_name[want["name"]], want) for want in desired if want["name"] in by_name
    }
    return creates, {name: commands for name, commands in fixes.items() if commands}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "pools": {"type": "list", "elements": "dict", "required": True},
            "timeout": {"type": "int", "default": 30},
        },
        supports_check_mode=True,
    )
    for pool in module.params["pools"]:
        missing = [key for key in REQUIRED if key not in pool]
        if missing:
            module.fail_json(msg=f"pool {pool.get('name', pool)} lacks {', '.join(missing)}")
    ceph = ["ceph", "--connect-timeout", str(module.params["timeout"])]
    desired = [
        {
            **pool,
            "pg_num": int(pool["pg_num"]),
            "size": int(pool["size"]),
            "min_size": int(pool["min_size"]),
            "autoscale": bool(pool["autoscale"]),
        }
        for pool in module.params["pools"]
    ]
    done: list[list[str]] = []

    def pools() -> list[dict]:
        rc, out, err = module.run_command([*ceph, "osd", "pool", "ls", "detail", "-f", "json"])
        if rc != 0:
            module.fail_json(msg=f"ceph osd pool ls detail failed: {err.strip() or f'exit {rc}'}", rc=rc)
        return json.loads(out)

    def run_chain(chain: list[list[str]]) -> str:
        for args in chain:
            rc, _, err = module.run_command(ceph + args)
            if rc != 0:
                return f"ceph {' '.join(args)} failed: {err.strip() or f'exit {rc}'}"
            done.append(args)
        return ""

    def run_parallel(chains: list[list[list[str]]]) -> None:
        # Every monitor write waits for the next Paxos round (paxos_propose_interval, 1 s): commands of
        # different pools run side by side so they share rounds; a pool's own commands stay in order.
        with ThreadPoolExecutor(max_workers=8) as pool:
            errors = [e for e in pool.map(run_chain, chains) if e]
        if errors:
            module.fail_json(msg="; ".join(errors), commands=done)

    creates, fixes = plan(pools(), desired)
    if module.check_mode:
        module.exit_json(
            changed=bool(creates or fixes), commands=creates + [c for chain in fixes.values() for c in chain]
        )
    if creates:
        run_parallel([[command] for command in creates])
        _, fixes = plan(pools(), desired)
    run_parallel(list(fixes.values()))
    module.exit_json(changed=bool(done), commands=done)


if __name__ == "__main__":
    main()
