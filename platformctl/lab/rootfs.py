"""The lab's base root filesystem: built once with debootstrap, cached, shared read-only by every node.

Each node boots from an overlay whose lower layer is this cached tree, so a node costs only what it
writes, and a cached lab comes up in seconds.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path

from platformctl import versions
from platformctl.lab.config import CACHE_ROOT
from platformctl.lab.shell import LabError, run

APT_SOURCES = """\
Types: deb
URIs: {mirror}
Suites: {suite} {suite}-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: {security}
Suites: {suite}-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""


def cache_key() -> str:
    recipe = "|".join(
        [
            versions.LAB_DEBIAN_SUITE,
            versions.LAB_DEBIAN_MIRROR,
            *versions.LAB_BASE_PACKAGES,
            str(versions.LAB_ROOTFS_RECIPE),
        ]
    )
    return hashlib.sha256(recipe.encode()).hexdigest()[:12]


def base_dir(cache_root: Path = CACHE_ROOT) -> Path:
    return cache_root / "rootfs" / f"{versions.LAB_DEBIAN_SUITE}-{cache_key()}"


def is_cached(cache_root: Path = CACHE_ROOT) -> bool:
    return (base_dir(cache_root) / ".complete").exists()


def ensure_base(rebuild: bool = False, cache_root: Path = CACHE_ROOT) -> tuple[Path, float]:
    """Return the cached base tree, building it first if needed; the float is build seconds (0 if cached)."""
    target = base_dir(cache_root)
    if is_cached(cache_root) and not rebuild:
        return target, 0.0
    started = time.monotonic()
    staging = target.with_name(target.name + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    staging.parent.mkdir(parents=True, exist_ok=True)
    run(
        [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(versions.LAB_BASE_PACKAGES)}",
            versions.LAB_DEBIAN_SUITE,
            str(staging),
            versions.LAB_DEBIAN_MIRROR,
        ],
        timeout=1200,
    )
    _finish_base(staging)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    (target / ".complete").write_text(cache_key() + "\n")
    return target, time.monotonic() - started


def _finish_base(root: Path) -> None:
    """Make the debootstrapped tree a neutral server image: per-node identity is added at node creation."""
    sources = root / "etc" / "apt" / "sources.list"
    sources.unlink(missing_ok=True)
    (root / "etc" / "apt" / "sources.list.d" / "debian.sources").write_text(
        APT_SOURCES.format(
            mirror=versions.LAB_DEBIAN_MIRROR,
            security=versions.LAB_DEBIAN_SECURITY_MIRROR,
            suite=versions.LAB_DEBIAN_SUITE,
        )
    )
    # Host keys are generated per node; a shared key would make every node the same SSH identity.
    for key in (root / "etc" / "ssh").glob("ssh_host_*"):
        key.unlink()
    (root / "etc" / "machine-id").write_text("")
    (root / "etc" / "hostname").write_text("localhost\n")
    apt_cache = root / "var" / "cache" / "apt" / "archives"
    for deb in apt_cache.glob("*.deb"):
        deb.unlink()
    # The console getty of a detached container has no reader; it only spins on a closed terminal.
    run(["systemctl", f"--root={root}", "mask", "console-getty.service", "getty@tty1.service"])
    if not (root / "usr" / "bin" / "python3").exists():
        raise LabError(f"debootstrap produced no python3 in {root}: the base image is unusable")
