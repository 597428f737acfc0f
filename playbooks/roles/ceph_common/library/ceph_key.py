#!/usr/bin/python
"""Ansible module: a cephx entity with the given capabilities, created or corrected through the ceph CLI."""

from __future__ import annotations

import json

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
---
module: ceph_key
short_description: Ensure a cephx key exists with exactly the given capabilities
description:
  - Runs on a host with the client.admin keyring. Creates the entity with C(ceph auth get-or-create) when it
    is missing, sets its capabilities with C(ceph auth caps) when they differ, and returns its key.
  - The key is returned in the result, so callers set C(no_log) on the task.
options:
  name:
    description: Entity name, for example C(client.rgw.node1) or C(mgr.node1).
    type: str
    required: true
  caps:
    description: Capabilities by service (mon, mgr, osd, mds), for example C({mon: allow r}).
    type: dict
    required: true
  timeout:
    description: Seconds the ceph CLI may take to reach the monitors.
    type: int
    default: 30
author: GPU platform maintainers
"""

RETURN = r"""
key:
  description: The entity's secret key (base64).
  type: str
  returned: success
caps:
  description: The capabilities the entity now has.
  type: dict
  returned: success
"""


def caps_args(caps: dict[str, str]) -> list[str]:
    """Sorted `service cap` pairs for `ceph auth` commands."""
    args: list[str] = []
    for service in sorted(caps):
        args += [service, caps[service]]
    return args


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "caps": {"type": "dict", "required": True},
            "timeout": {"type": "int", "default": 30},
        },
        supports_check_mode=True,
    )
    name = module.params["name"]
    want = {str(k): str(v) for k, v in module.params["caps"].items()}
    ceph = ["ceph", "--connect-timeout", str(module.params["timeout"])]

    def run(*args: str) -> str:
        rc, out, err = module.run_command(ceph + list(args))
        if rc != 0:
            module.fail_json(
                msg=f"ceph {' '.join(args[:3])} failed for {name}: {err.strip() or f'exit {rc}'}", rc=rc
            )
        return out

    rc, out, err = module.run_command([*ceph, "auth", "get", name, "-f", "json"])
    if rc != 0 and "ENOENT" not in err and "failed to find" not in err:
        module.fail_json(msg=f"ceph auth get {name} failed: {err.strip() or f'exit {rc}'}", rc=rc)
    if rc != 0:
        if module.check_mode:
            module.exit_json(changed=True, key="", caps=want)
        entry = json.loads(run("auth", "get-or-create", name, *caps_args(want), "-f", "json"))[0]
        module.exit_json(changed=True, key=entry["key"], caps=want)
    entry = json.loads(out)[0]
    have = {str(k): str(v) for k, v in entry.get("caps", {}).items()}
    if have == want:
        module.exit_json(changed=False, key=entry["key"], caps=have)
    if not module.check_mode:
        run("auth", "caps", name, *caps_args(want))
    module.exit_json(changed=True, key=entry["key"], caps=want, previous_caps=have)


if __name__ == "__main__":
    main()
