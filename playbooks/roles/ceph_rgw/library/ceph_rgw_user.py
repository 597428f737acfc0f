#!/usr/bin/python
"""Ansible module: a radosgw (S3) user with a display name and an optional size quota, and its S3 keys."""

from __future__ import annotations

import json

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
---
module: ceph_rgw_user
short_description: Ensure a radosgw user exists and return its S3 keys
description:
  - Runs C(radosgw-admin) on a host with the client.admin keyring. Creates the user when missing (radosgw
    generates its S3 key pair), corrects its display name and its user quota, and returns the first S3 key.
  - The keys are returned in the result, so callers set C(no_log) on the task.
options:
  uid:
    description: User id.
    type: str
    required: true
  display_name:
    description: Display name.
    type: str
    required: true
  max_size:
    description: User quota in bytes over all of the user's buckets; 0 means no quota.
    type: int
    default: 0
  timeout:
    description: Seconds one radosgw-admin call may take.
    type: int
    default: 120
author: GPU platform maintainers
"""

RETURN = r"""
access_key:
  description: S3 access key.
  type: str
  returned: success
secret_key:
  description: S3 secret key.
  type: str
  returned: success
"""

NO_USER = ("could not fetch user info", "no user info saved")


def quota_commands(uid: str, quota: dict, max_size: int) -> list[list[str]]:
    """radosgw-admin argument lists that bring the user quota `quota` (from `user info`) to `max_size`."""
    scope = ["--quota-scope=user", f"--uid={uid}"]
    if max_size > 0:
        commands = []
        if quota.get("max_size") != max_size:
            commands.append(["quota", "set", *scope, f"--max-size={max_size}"])
        if not quota.get("enabled"):
            commands.append(["quota", "enable", *scope])
        return commands
    return [["quota", "disable", *scope]] if quota.get("enabled") else []


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "uid": {"type": "str", "required": True},
            "display_name": {"type": "str", "required": True},
            "max_size": {"type": "int", "default": 0},
            "timeout": {"type": "int", "default": 120},
        },
        supports_check_mode=True,
    )
    uid, params = module.params["uid"], module.params

    def admin(*args: str, check: bool = True) -> tuple[int, str, str]:
        rc, out, err = module.run_command(["timeout", str(params["timeout"]), "radosgw-admin", *args])
        if check and rc != 0:
            module.fail_json(
                msg=f"radosgw-admin {' '.join(args[:2])} for user {uid} failed: "
                f"{err.strip() or f'exit {rc}'}",
                rc=rc,
            )
        return rc, out, err

    changed = False
    rc, out, err = admin("user", "info", f"--uid={uid}", check=False)
    if rc != 0 and not any(text in err for text in NO_USER):
        module.fail_json(
            msg=f"radosgw-admin user info for {uid} failed: {err.strip() or f'exit {rc}'}", rc=rc
        )
    if rc != 0:
        if module.check_mode:
            module.exit_json(changed=True, access_key="", secret_key="")
        _, out, _ = admin("user", "create", f"--uid={uid}", f"--display-name={params['display_name']}")
        changed = True
    info = json.loads(out)
    commands = []
    if info.get("display_name") != params["display_name"]:
        commands.append(["user", "modify", f"--uid={uid}", f"--display-name={params['display_name']}"])
    commands += quota_commands(uid, info.get("user_quota", {}), params["max_size"])
    if commands:
        changed = True
        if not module.check_mode:
            for args in commands:
                admin(*args)
    keys = [key for key in info.get("keys", []) if key.get("user") == uid] or info.get("keys", [])
    if not keys:
        module.fail_json(
            msg=f"radosgw user {uid} has no S3 key; add one with `radosgw-admin key create "
            f"--uid={uid} --key-type=s3 --gen-access-key --gen-secret`"
        )
    module.exit_json(changed=changed, access_key=keys[0]["access_key"], secret_key=keys[0]["secret_key"])


if __name__ == "__main__":
    main()
