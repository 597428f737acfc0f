#!/usr/bin/python
"""Ansible module: one BlueStore OSD on a plain file (the lab's stand-in for a disk), created idempotently."""

from __future__ import annotations

import glob
import json
import os
import shutil
import uuid as uuidlib
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
---
module: ceph_file_osd
short_description: Ensure a file-backed BlueStore OSD exists for a slot on this host (labs only)
description:
  - A slot is a numbered OSD of this host. Its identity (OSD uuid and cephx secret) is kept in
    C(/var/lib/ceph/osd/file-slot-N.json) before anything is registered, so an interrupted run resumes with
    the same identity (C(ceph osd new) is idempotent for a uuid and secret).
  - The OSD is registered with the bootstrap-osd key, and C(ceph-osd --mkfs) creates BlueStore with its block
    device as a sparse file C(block) in the data directory (C(bluestore_block_create)).
options:
  slot:
    description: Slot number on this host (0, 1, ...).
    type: int
    required: true
  size:
    description: Size of the sparse block file in bytes.
    type: int
    required: true
  bootstrap_keyring:
    description: Keyring of client.bootstrap-osd.
    type: path
    default: /var/lib/ceph/bootstrap-osd/ceph.keyring
  timeout:
    description: Seconds the ceph CLI may take to reach the monitors.
    type: int
    default: 30
author: GPU platform maintainers
"""

RETURN = r"""
osd_id:
  description: The OSD's id.
  type: int
  returned: success
uuid:
  description: The OSD's uuid.
  type: str
  returned: success
"""

OSD_ROOT = Path("/var/lib/ceph/osd")


def find_ready(osd_uuid: str) -> int | None:
    """The id of a data directory that holds a finished OSD with this uuid."""
    for data in glob.glob(str(OSD_ROOT / "ceph-*")):
        path = Path(data)
        try:
            if (path / "fsid").read_text().strip() == osd_uuid and (path / "ready").exists():
                return int((path / "whoami").read_text().strip())
        except (OSError, ValueError):
            continue
    return None


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "slot": {"type": "int", "required": True},
            "size": {"type": "int", "required": True},
            "bootstrap_keyring": {"type": "path", "default": "/var/lib/ceph/bootstrap-osd/ceph.keyring"},
            "timeout": {"type": "int", "default": 30},
        },
        supports_check_mode=True,
    )
    params = module.params
    slot_file = OSD_ROOT / f"file-slot-{params['slot']}.json"
    changed = False
    if slot_file.exists():
        identity = json.loads(slot_file.read_text())
    else:
        if module.check_mode:
            module.exit_json(changed=True, osd_id=-1, uuid="")
        rc, secret, err = module.run_command(["ceph-authtool", "--gen-print-key"])
        if rc != 0:
            module.fail_json(msg=f"ceph-authtool --gen-print-key failed: {err.strip()}")
        identity = {"uuid": str(uuidlib.uuid4()), "secret": secret.strip()}
        OSD_ROOT.mkdir(parents=True, exist_ok=True)
        fd = os.open(slot_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(identity, handle)
        changed = True
    osd_id = find_ready(identity["uuid"])
    if osd_id is not None:
        module.exit_json(changed=changed, osd_id=osd_id, uuid=identity["uuid"])
    if module.check_mode:
        module.exit_json(changed=True, osd_id=-1, uuid=identity["uuid"])

    ceph = [
        "ceph",
        "--connect-timeout",
        str(params["timeout"]),
        "--name",
        "client.bootstrap-osd",
        "--keyring",
        params["bootstrap_keyring"],
    ]
    rc, out, err = module.run_command(
        [*ceph, "osd", "new", identity["uuid"], "-i", "-"],
        data=json.dumps({"cephx_secret": identity["secret"]}),
    )
    if rc != 0:
        module.fail_json(msg=f"ceph osd new {identity['uuid']} (slot {params['slot']}) failed: {err.strip()}")
    osd_id = int(out.strip())
    data = OSD_ROOT / f"ceph-{osd_id}"
    if data.exists():  # an interrupted mkfs of this very OSD: start over
        shutil.rmtree(data)
    data.mkdir(mode=0o750)
    (data / "keyring").write_text(f"[osd.{osd_id}]\n\tkey = {identity['secret']}\n")
    os.chmod(data / "keyring", 0o600)
    module.run_command(["chown", "-R", "ceph:ceph", str(data)], check_rc=True)
    rc, out, err = module.run_command(
        [
            "ceph-osd",
            "--cluster",
            "ceph",
            "-i",
            str(osd_id),
            "--mkfs",
            "--osd-uuid",
            identity["uuid"],
            "--osd-data",
            str(data),
            "--osd-objectstore=bluestore",
            "--bluestore_block_create=true",
            f"--bluestore_block_size={params['size']}",
            "--setuser",
            "ceph",
            "--setgroup",
            "ceph",
        ]
    )
    if rc != 0:
        module.fail_json(msg=f"ceph-osd --mkfs of osd.{osd_id} failed: {(err or out).strip()[-2000:]}")
    module.exit_json(changed=True, osd_id=osd_id, uuid=identity["uuid"])


if __name__ == "__main__":
    main()
