"""Ceph benchmark against a converged lab (a script, not a test): S3 throughput through radosgw and
`rados bench` write throughput, each beside the raw write speed of the host disk the lab's OSD files live on,
measured in the same run, as ratios.

  raw disk write      dd of a file on the lab's filesystem, conv=fdatasync (what the OSDs' block files sit on)
  S3 put/get 1 MiB    boto3 put_object / get_object, one object at a time, through radosgw
  S3 put/get 64 MiB   boto3 upload_fileobj / download_fileobj (multipart, 8 MiB parts, 10 threads)
  rados bench write   `rados bench -p rbd <s> write -b 4M -t 16` on the first monitor, then its cleanup

Every Ceph write lands three times on the same host disk (pools of size 3, all OSDs on one machine); the lab's
file-backed OSDs write through the host's page cache, so their ratios can exceed 1/3. The S3 user is the lab's
first tenant (stacks/lab/credentials/...); its objects go under bench/ in the tenant's first bucket and are
deleted afterwards.

Run as root with the lab up and converged (ceph.yml):
    PLATFORM_LAB_ID=<lab> .venv/bin/python benchmarks/ceph_bench.py [--quick]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from platformctl.lab import config, nodes
from platformctl.paths import REPO_ROOT

MIB = 1024 * 1024


def raw_disk_write(directory: Path, size_mib: int) -> float:
    """MiB/s of `dd if=/dev/zero bs=4M conv=fdatasync` into a file in `directory` (removed afterwards)."""
    with tempfile.NamedTemporaryFile(dir=directory, prefix="ceph-bench-dd-") as handle:
        started = time.monotonic()
        subprocess.run(
            [
                "dd",
                "if=/dev/zero",
                f"of={handle.name}",
                "bs=4M",
                f"count={size_mib // 4}",
                "conv=fdatasync",
                "status=none",
            ],
            check=True,
        )
        return size_mib / (time.monotonic() - started)


def s3_client(tenant: dict) -> object:
    return boto3.client(
        "s3",
        endpoint_url=tenant["endpoint"],
        region_name=tenant["region"],
        aws_access_key_id=tenant["access_key"],
        aws_secret_access_key=tenant["secret_key"],
        config=Config(
            s3={"addressing_style": "path"},
            connect_timeout=10,
            read_timeout=120,
            retries={"max_attempts": 3, "mode": "standard"},
        ),
    )


def s3_throughput(s3, bucket: str, size: int, count: int) -> tuple[float, float]:
    """(put MiB/s, get MiB/s) for `count` objects of `size` bytes, written then read one after another."""
    body = os.urandom(size)
    keys = [f"bench/{size // MIB}MiB-{i}-{time.time_ns()}" for i in range(count)]
    multipart = TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB, max_concurrency=10)
    try:
        started = time.monotonic()
        for key in keys:
            if size > 8 * MIB:
                s3.upload_fileobj(io.BytesIO(body), bucket, key, Config=multipart)
            else:
                s3.put_object(Bucket=bucket, Key=key, Body=body)
        put = size * count / MIB / (time.monotonic() - started)
        started = time.monotonic()
        for key in keys:
            if size > 8 * MIB:
                sink = io.BytesIO()
                s3.download_fileobj(bucket, key, sink, Config=multipart)
                got = sink.getvalue()
            else:
                got = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            assert len(got) == size, f"{key}: read {len(got)} bytes, wrote {size}"
        get = size * count / MIB / (time.monotonic() - started)
    finally:
        for key in keys:
            s3.delete_object(Bucket=bucket, Key=key)
    return put, get


def rados_bench(lab: config.LabConfig, node: str, seconds: int) -> float:
    """Write bandwidth (MiB/s) `rados bench` reports on `node`, pool rbd, 4 MiB objects, 16 in flight."""
    command = (
        f"rados bench -p rbd {seconds} write -b 4194304 -t 16 --run-name ceph-bench --no-cleanup"
        f" && rados -p rbd cleanup --run-name ceph-bench >/dev/null"
    )
    proc = subprocess.run(
        nodes.ssh_command(lab, node, command),
        capture_output=True,
        text=True,
        timeout=seconds + 180,
        check=False,
    )
    match = re.search(r"Bandwidth \(MB/sec\):\s+([\d.]+)", proc.stdout)
    if proc.returncode != 0 or not match:
        detail = proc.stderr.strip()[-500:] or proc.stdout[-500:]
        raise RuntimeError(f"rados bench failed on {node}: {detail}")
    return float(match.group(1))  # rados counts MB as 2**20 bytes


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes and counts (a check that it runs)")
    args = parser.parse_args()
    lab = config.load(config.default_lab_id())
    if lab is None:
        print(
            f"no lab {config.default_lab_id()}: run `platformctl lab up` and converge ceph.yml first",
            file=sys.stderr,
        )
        return 2
    ceph_dir = REPO_ROOT / "stacks" / "lab" / "credentials" / lab.lab_id / "ceph"
    outputs_file = ceph_dir / "outputs.json"
    tenants = sorted((ceph_dir / "s3").glob("*.json"))
    if not outputs_file.exists() or not tenants:
        print(
            f"{ceph_dir} has no outputs.json or tenant credentials: converge playbooks/ceph.yml on lab "
            f"{lab.lab_id} (with a tenant in ceph_rgw_tenants) first",
            file=sys.stderr,
        )
        return 2
    outputs = json.loads(outputs_file.read_text())
    tenant = json.loads(tenants[0].read_text())
    monitor = outputs["monitors"][0]["name"]
    small, large = (8, 1) if args.quick else (64, 4)
    dd_mib, bench_s = (256, 3) if args.quick else (1024, 15)

    print(
        f"Ceph benchmark, lab {lab.lab_id} ({lab.nodes} nodes, S3 endpoint {tenant['endpoint']}, "
        f"tenant {tenant['tenant']}, bucket {tenant['buckets'][0]})",
        flush=True,
    )
    raw = raw_disk_write(lab.state_dir, dd_mib)
    s3 = s3_client(tenant)
    bucket = tenant["buckets"][0]
    put1, get1 = s3_throughput(s3, bucket, MIB, small)
    put64, get64 = s3_throughput(s3, bucket, 64 * MIB, large)
    rados = rados_bench(lab, monitor, bench_s)
    figures = [
        (f"raw disk write ({dd_mib} MiB, dd conv=fdatasync)", raw),
        (f"S3 put 1 MiB x {small}", put1),
        (f"S3 get 1 MiB x {small}", get1),
        (f"S3 put 64 MiB x {large} (multipart)", put64),
        (f"S3 get 64 MiB x {large} (multipart)", get64),
        (f"rados bench write 4 MiB, 16 in flight, {bench_s} s", rados),
    ]
    print(f"  {'measure':<48} {'MiB/s':>9} {'x raw disk':>11}")
    for label, value in figures:
        print(f"  {label:<48} {value:9.1f} {value / raw:11.2f}")
    print("  (each Ceph write is stored 3 times on this disk; the OSD files write through the page cache)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
