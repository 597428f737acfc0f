#!/usr/bin/python3
"""Take a verified etcd snapshot of this member and keep copies off it (installed by role etcd).

Run by etcd-snapshot.service (its timer) or by hand: `etcd-snapshot --config /etc/etcd/snapshot.json`.

1. `etcdctl snapshot save` from this member's client URL into the local directory, under a temporary name;
2. `etcdctl snapshot status` must read it (hash, revision, key count), then it gets its final name
   MEMBER-YYYYmmddTHHMMSSZ.db with a .json sidecar (sha256 and status);
3. copy to the backup host over SSH (the receiving side's forced command checks the sha256 and prunes), and to
   S3 through boto3 (credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), when configured;
4. keep the newest `keep` snapshots locally and in S3; write the outcome to the status file.

Exit status 0 only when the snapshot and every configured copy succeeded.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

NAME_FORMAT = "{member}-{stamp}.db"
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
COMMAND_TIMEOUT_S = 600


def snapshot_name(member: str, now: dt.datetime) -> str:
    return NAME_FORMAT.format(member=member, stamp=now.strftime(STAMP_FORMAT))


def etcdctl(config: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    tls = [f"--cacert={config['cacert']}", f"--cert={config['cert']}", f"--key={config['key']}"]
    return subprocess.run(
        [
            "etcdctl",
            *tls,
            f"--endpoints={config['endpoint']}",
            "--dial-timeout=5s",
            "--command-timeout=300s",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def take(config: dict[str, Any], now: dt.datetime) -> tuple[Path, dict[str, Any]]:
    """Save and verify a snapshot; returns its final path and metadata. Raises RuntimeError."""
    directory = Path(config["dir"])
    final = directory / snapshot_name(config["member"], now)
    partial = directory / f".{final.name}.part"
    partial.unlink(missing_ok=True)
    saved = etcdctl(config, "snapshot", "save", str(partial))
    if saved.returncode != 0:
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"snapshot save failed: {last_line(saved.stderr or saved.stdout)}")
    status = subprocess.run(
        ["etcdctl", "snapshot", "status", str(partial), "-w", "json"],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    try:
        info = json.loads(status.stdout) if status.returncode == 0 else None
    except json.JSONDecodeError:
        info = None
    if not info or "hash" not in info or int(info.get("totalSize", 0)) <= 0:
        partial.unlink(missing_ok=True)
        reason = last_line(status.stderr) or status.stdout.strip() or "no output"
        raise RuntimeError(f"snapshot status cannot read the snapshot: {reason}")
    meta = {
        "member": config["member"],
        "file": final.name,
        "created": now.strftime(STAMP_FORMAT),
        "sha256": sha256(partial),
        "status": info,
    }
    partial.rename(final)
    final.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    return final, meta


def copy_to_host(config: dict[str, Any], path: Path, meta: dict[str, Any]) -> str:
    """Stream the snapshot to the backup host; its forced command stores, verifies and prunes."""
    backup = config["backup"]
    command = [
        "ssh",
        "-i",
        backup["identity"],
        "-o",
        f"UserKnownHostsFile={backup['known_hosts']}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=15",
        "-p",
        str(backup.get("port", 22)),
        f"{backup['user']}@{backup['address']}",
        f"store {path.name} {meta['sha256']}",
    ]
    with path.open("rb") as handle:
        result = subprocess.run(
            command, stdin=handle, capture_output=True, timeout=COMMAND_TIMEOUT_S, check=False
        )
    if result.returncode != 0:
        reason = last_line(result.stderr.decode(errors="replace")) or f"ssh exit {result.returncode}"
        raise RuntimeError(f"copy to {backup['host']} failed: {reason}")
    return f"{backup['host']}:{backup['dir']}/{config['member']}/{path.name}"


def s3_client(s3: dict[str, Any]) -> Any:
    import boto3  # only members with an S3 copy configured have python3-boto3

    return boto3.client(
        "s3", endpoint_url=s3.get("endpoint_url") or None, region_name=s3.get("region") or None
    )


def copy_to_s3(config: dict[str, Any], path: Path, meta: dict[str, Any], client: Any) -> str:
    s3 = config["s3"]
    prefix = f"{s3.get('prefix', '')}{config['member']}/"
    client.upload_file(
        str(path),
        s3["bucket"],
        prefix + path.name,
        ExtraArgs={"Metadata": {"sha256": meta["sha256"], "revision": str(meta["status"]["revision"])}},
    )
    listed = client.list_objects_v2(Bucket=s3["bucket"], Prefix=prefix)
    keys = sorted(o["Key"] for o in listed.get("Contents", []) if o["Key"].endswith(".db"))
    for key in keys[: max(0, len(keys) - int(config["keep"]))]:
        client.delete_object(Bucket=s3["bucket"], Key=key)
    return f"s3://{s3['bucket']}/{prefix}{path.name}"


def prune_local(directory: Path, member: str, keep: int) -> list[str]:
    """Remove all but the newest `keep` snapshots of this member (names sort by time)."""
    snapshots = sorted(directory.glob(f"{member}-*.db"))
    removed = []
    for old in snapshots[: max(0, len(snapshots) - keep)]:
        old.unlink()
        old.with_suffix(".json").unlink(missing_ok=True)
        removed.append(old.name)
    return removed


def last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def run(config: dict[str, Any], now: dt.datetime | None = None, s3: Any = None) -> dict[str, Any]:
    now = now or dt.datetime.now(dt.UTC)
    outcome: dict[str, Any] = {"time": now.strftime(STAMP_FORMAT), "ok": False, "errors": [], "copies": []}
    try:
        path, meta = take(config, now)
    except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
        outcome["errors"].append(str(exc))
        return outcome
    outcome.update(
        file=str(path), sha256=meta["sha256"], revision=meta["status"]["revision"], size=path.stat().st_size
    )
    if config.get("backup"):
        try:
            outcome["copies"].append(copy_to_host(config, path, meta))
        except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
            outcome["errors"].append(str(exc))
    if config.get("s3"):
        try:
            outcome["copies"].append(copy_to_s3(config, path, meta, s3 or s3_client(config["s3"])))
        except Exception as exc:  # boto3 raises many unrelated types; each is a failed copy
            outcome["errors"].append(f"copy to S3 bucket {config['s3']['bucket']} failed: {exc}")
    outcome["pruned"] = prune_local(path.parent, config["member"], int(config["keep"]))
    outcome["ok"] = not outcome["errors"]
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="/etc/etcd/snapshot.json")
    args = parser.parse_args(argv)
    config = json.loads(Path(args.config).read_text())
    os.umask(0o077)  # snapshots hold every key of the cluster
    outcome = run(config)
    status_file = Path(config["status_file"])
    status_file.write_text(json.dumps(outcome, indent=2) + "\n")
    for error in outcome["errors"]:
        print(f"error: {error}", file=sys.stderr)
    if outcome.get("file"):
        print(
            f"snapshot {outcome['file']} revision {outcome.get('revision')} size {outcome.get('size')} "
            f"bytes; copies: {', '.join(outcome['copies']) or 'none'}"
        )
    return 0 if outcome["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
