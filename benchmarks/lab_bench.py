"""Lab benchmark (a script, not a test): prints the figures the foundation issue sets targets for.

  base image build       debootstrap into a scratch cache (the shared cache is left alone)
  lab up from cache      3 nodes to SSH-ready                         target <= 30 s
  apt floor              one direct `apt-get install` of the roles' packages on a fresh node
  first converge         site.yml on 3 fresh nodes (ratio to the apt floor)
  idempotent re-run      site.yml again, changed=0 expected             target <= 60 s
  smoke suite            `platformctl smoke --stack lab`                target <= 20 s

Run as root: .venv/bin/python benchmarks/lab_bench.py [--skip-base-build]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from platformctl import provision
from platformctl.lab import manager, nodes, rootfs
from platformctl.paths import PLAYBOOKS_DIR, REPO_ROOT

BENCH_LAB = "bench"
FLOOR_LAB = "bench-floor"
BASELINE_ROLES = ("common", "containerd")


def role_packages() -> list[str]:
    """The packages the baseline roles install, read from their defaults (the one place they are declared)."""
    packages: list[str] = []
    for role in BASELINE_ROLES:
        defaults = yaml.safe_load((PLAYBOOKS_DIR / "roles" / role / "defaults" / "main.yml").read_text())
        for key, value in defaults.items():
            if key.endswith("_packages") and isinstance(value, list):
                packages += [p for p in value if "{{" not in str(p)]
    return sorted(set(packages))


def timed(label: str, figures: list[tuple[str, float]], func):
    started = time.monotonic()
    result = func()
    elapsed = time.monotonic() - started
    figures.append((label, elapsed))
    print(f"  {label:<28} {elapsed:8.1f} s", flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--skip-base-build", action="store_true", help="do not time a scratch base build")
    args = parser.parse_args()
    figures: list[tuple[str, float]] = []
    os.environ["PLATFORM_LAB_ID"] = BENCH_LAB
    for lab in (BENCH_LAB, FLOOR_LAB):
        manager.down(lab)
    try:
        if not args.skip_base_build:
            scratch = Path(tempfile.mkdtemp(prefix="platformctl-bench-"))
            try:
                timed("base image build", figures, lambda: rootfs.ensure_base(cache_root=scratch))
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
        rootfs.ensure_base()  # the shared cache the labs boot from
        up = timed("lab up from cache (3 nodes)", figures, lambda: manager.up(3, BENCH_LAB))
        floor_lab = manager.up(1, FLOOR_LAB).lab
        packages = role_packages()
        command = (
            "export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && "
            f"apt-get install -y -qq {' '.join(packages)} >/dev/null"
        )
        timed(
            "apt floor (1 node, direct)",
            figures,
            lambda: subprocess.run(nodes.ssh_command(floor_lab, "node1", command), check=True, timeout=900),
        )
        first = timed(
            "first converge (3 nodes)",
            figures,
            lambda: provision.run_playbook("lab", "site.yml", log_dir=REPO_ROOT / "reports"),
        )
        again = timed(
            "idempotent re-run",
            figures,
            lambda: provision.run_playbook("lab", "site.yml", log_dir=REPO_ROOT / "reports"),
        )
        smoke = timed(
            "smoke suite",
            figures,
            lambda: subprocess.run(
                [str(Path(sys.executable).parent / "platformctl"), "smoke", "--stack", "lab"],
                capture_output=True,
                text=True,
                check=False,
            ),
        )
    finally:
        for lab in (BENCH_LAB, FLOOR_LAB):
            manager.down(lab)
    by_label = dict(figures)
    floor = by_label["apt floor (1 node, direct)"]
    print("\nResults")
    print(f"  lab up from cache: {up.ssh_ready_s:.1f} s to SSH-ready (target <= 30 s)")
    print(
        f"  first converge: {first.duration_s:.1f} s = {first.duration_s / floor:.2f} x the apt floor "
        f"({floor:.1f} s for {len(packages)} packages: {' '.join(packages)}); ok={first.ok}"
    )
    print(
        f"  idempotent re-run: {again.duration_s:.1f} s (target <= 60 s), changed={again.changed}, "
        f"ok={again.ok}"
    )
    print(f"  smoke suite: {by_label['smoke suite']:.1f} s (target <= 20 s), exit {smoke.returncode}")
    healthy = first.ok and again.ok and again.changed == 0 and smoke.returncode == 0
    if not healthy:
        print("  WARNING: a step did not succeed; figures above are not comparable", file=sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
