#!/usr/bin/python3
"""Receiving side of etcd snapshot copies on the backup host (installed by role etcd).

It is the forced command of each member's key in the backup user's authorized_keys:

    restrict,command="etcd-snapshot-receive --member node1 --dir /srv/etcd-snapshots --keep 24" KEY

so a member's key can only store that member's snapshots. The member runs `ssh backup "store NAME SHA256"`
with the snapshot on standard input; the file is written under a temporary name, its sha256 checked, then
renamed into DIR/MEMBER/NAME, and all but the newest KEEP snapshots of the member are removed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
from pathlib import Path
from typing import BinaryIO

NAME = re.compile(r"^(?P<member>[A-Za-z0-9._-]+)-\d{8}T\d{6}Z\.db$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")


class Refused(Exception):
    """The request is malformed or the data does not match; nothing was kept."""


def store(directory: Path, member: str, request: str, data: BinaryIO, keep: int) -> Path:
    words = request.split()
    if len(words) != 3 or words[0] != "store":
        raise Refused(f"expected 'store NAME SHA256', got {request!r}")
    _, name, expected = words
    match = NAME.match(name)
    if not match or match["member"] != member:
        raise Refused(f"{name!r} is not a snapshot name of member {member}")
    if not SHA256.match(expected):
        raise Refused(f"{expected!r} is not a sha256")
    target_dir = directory / member
    target_dir.mkdir(mode=0o750, parents=True, exist_ok=True)
    partial = target_dir / f".{name}.part"
    digest = hashlib.sha256()
    with partial.open("wb") as out:
        for chunk in iter(lambda: data.read(1 << 20), b""):
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != expected:
        partial.unlink()
        raise Refused(f"{name}: received sha256 {digest.hexdigest()}, want {expected} (truncated transfer?)")
    final = target_dir / name
    partial.rename(final)
    snapshots = sorted(target_dir.glob(f"{member}-*.db"))
    for old in snapshots[: max(0, len(snapshots) - keep)]:
        old.unlink()
    return final


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--member", required=True)
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--keep", required=True, type=int)
    args = parser.parse_args(argv)
    os.umask(0o027)
    try:
        final = store(
            args.dir, args.member, os.environ.get("SSH_ORIGINAL_COMMAND", ""), sys.stdin.buffer, args.keep
        )
    except Refused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    print(f"stored {final}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
