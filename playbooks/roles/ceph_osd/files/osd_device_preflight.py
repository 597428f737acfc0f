"""Decide, for each device an OSD should be created on, whether that is safe: refuse any that is not empty.

Run on the OSD host by the ceph_osd role (python3 >= 3.9, util-linux lsblk with JSON output):
    osd_device_preflight.py --fsid FSID --min-size-gib N DEVICE...
Prints {"devices": [{"device", "path", "status", "reason", "osd_id"}]}, status being
  ready    empty: an OSD may be created on it
  osd      already an OSD of this cluster (nothing to do)
  refused  not empty, not a whole disk, or not usable: `reason` says why.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from typing import Any

LSBLK_COLUMNS = "NAME,PATH,KNAME,TYPE,SIZE,RO,FSTYPE,PTTYPE,MOUNTPOINT"
WHOLE_DISK_TYPES = ("disk", "mpath")
ZAP_HINT = "if its data is not needed, wipe it with `ceph-volume lvm zap --destroy {path}` and run again"


def classify(
    device: str,
    path: str,
    info: dict[str, Any] | None,
    osd_devices: dict[str, dict[str, str]],
    fsid: str,
    holders: list[str],
    swaps: list[str],
    min_bytes: int,
    probe: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The verdict for one device, from what lsblk, blkid (`probe`: TYPE, PTTYPE, or ERROR when it could not
    read the device), ceph-volume, sysfs and /proc/swaps say about it."""

    def verdict(status: str, reason: str, osd_id: str | None = None) -> dict[str, Any]:
        return {"device": device, "path": path, "status": status, "reason": reason, "osd_id": osd_id}

    if info is None:
        return verdict("refused", "does not exist or is not a block device")
    owner = osd_devices.get(path)
    if owner is not None:
        if owner.get("cluster_fsid") == fsid:
            return verdict("osd", f"already osd.{owner['osd_id']} of this cluster", owner["osd_id"])
        return verdict(
            "refused",
            f"holds osd.{owner['osd_id']} of another cluster (fsid "
            f"{owner.get('cluster_fsid') or 'unknown'}); " + ZAP_HINT.format(path=path),
        )
    if info.get("type") not in WHOLE_DISK_TYPES:
        return verdict("refused", f"is a {info.get('type')}, not a whole disk (give the disk itself)")
    if str(info.get("ro")) in ("1", "True", "true"):
        return verdict("refused", "is read-only")
    problems = []
    if info.get("mountpoint"):
        problems.append(f"is mounted at {info['mountpoint']}")
    if path in swaps:
        problems.append("is in use as swap")
    children = info.get("children") or []
    if children:
        problems.append(
            "has partitions or volumes: " + ", ".join(c.get("path") or c.get("name", "?") for c in children)
        )
    probe = probe or {}
    pttype = info.get("pttype") or probe.get("PTTYPE")
    fstype = info.get("fstype") or probe.get("TYPE")
    if pttype:
        problems.append(f"has a {pttype} partition table")
    if fstype:
        problems.append(f"carries a {fstype} signature")
    elif probe.get("ERROR"):
        problems.append(f"could not be probed for signatures ({probe['ERROR']}), so it may hold data")
    if holders:
        problems.append("is held by " + ", ".join(holders))
    if problems:
        return verdict(
            "refused", "is not empty: it " + "; it ".join(problems) + "; " + ZAP_HINT.format(path=path)
        )
    size = int(info.get("size") or 0)
    if size < min_bytes:
        return verdict(
            "refused",
            f"is {size / 2**30:.1f} GiB, smaller than the {min_bytes / 2**30:.0f} GiB "
            "minimum (ceph_osd_device_min_gib)",
        )
    return verdict("ready", "empty")


def lsblk(path: str) -> dict[str, Any] | None:
    proc = subprocess.run(
        ["lsblk", "-J", "-b", "-p", "-o", LSBLK_COLUMNS, path], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        return None
    devices = json.loads(proc.stdout).get("blockdevices") or []
    return devices[0] if devices else None


def blkid_probe(path: str) -> dict[str, str]:
    """Low-level signature probe (no cache): TYPE and PTTYPE when found, ERROR when it could not be read."""
    try:
        proc = subprocess.run(
            ["blkid", "-p", "-o", "export", path], capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        return {"ERROR": "blkid is not installed"}
    if proc.returncode == 0:
        return dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    if proc.returncode == 2 and not proc.stderr.strip():
        return {}  # nothing found
    return {"ERROR": (proc.stderr.strip().splitlines() or [f"blkid exit {proc.returncode}"])[-1]}


def ceph_volume_devices() -> dict[str, dict[str, str]]:
    """Devices under existing ceph-volume LVM OSDs: device path -> {osd_id, cluster_fsid}."""
    try:
        proc = subprocess.run(
            ["ceph-volume", "lvm", "list", "--format", "json"],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
    except FileNotFoundError:
        return {}
    if proc.returncode != 0 or not proc.stdout.strip():
        return {}
    found: dict[str, dict[str, str]] = {}
    for osd_id, volumes in json.loads(proc.stdout).items():
        for volume in volumes:
            for dev in volume.get("devices", []):
                tags = volume.get("tags", {})
                found[os.path.realpath(dev)] = {
                    "osd_id": str(osd_id),
                    "cluster_fsid": tags.get("ceph.cluster_fsid", ""),
                }
    return found


def holders_of(info: dict[str, Any] | None) -> list[str]:
    if info is None:
        return []
    try:
        name = os.path.basename(info.get("kname") or info.get("name") or "")
        return sorted(os.listdir(f"/sys/class/block/{name}/holders"))
    except OSError:
        return []


def active_swaps() -> list[str]:
    try:
        with open("/proc/swaps") as handle:
            return [os.path.realpath(line.split()[0]) for line in handle.readlines()[1:] if line.strip()]
    except OSError:
        return []


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fsid", required=True)
    parser.add_argument("--min-size-gib", type=float, default=0)
    parser.add_argument("devices", nargs="+")
    args = parser.parse_args()
    osd_devices = ceph_volume_devices()
    swaps = active_swaps()
    results = []
    for device in args.devices:
        path = os.path.realpath(device)
        info = lsblk(path) if os.path.exists(path) else None
        probe = blkid_probe(path) if info is not None else {}
        results.append(
            classify(
                device,
                path,
                info,
                osd_devices,
                args.fsid,
                holders_of(info),
                swaps,
                int(args.min_size_gib * 2**30),
                probe,
            )
        )
    print(json.dumps({"devices": results}))


if __name__ == "__main__":
    main()
