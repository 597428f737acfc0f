"""Every version and upstream source the platform pins, in one place.

Python dependencies are pinned in pyproject.toml and locked in constraints.txt; this module holds the
pins that code and playbooks read at run time.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

# The lab's node OS: Debian bookworm, the distribution the platform's roles are first tested on.
LAB_DEBIAN_SUITE = "bookworm"
LAB_DEBIAN_MIRROR = "http://deb.debian.org/debian"
LAB_DEBIAN_SECURITY_MIRROR = "http://deb.debian.org/debian-security"

# Packages baked into the lab's base root filesystem: what a freshly racked server has before the
# playbooks run (an init system, SSH, Python for Ansible). Everything else is the roles' job.
LAB_BASE_PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "python3",
    "python3-apt",
    "iproute2",
    "ca-certificates",
)

# Bump to invalidate cached base images when the post-install recipe in lab/rootfs.py changes.
LAB_ROOTFS_RECIPE = 1

# Deployed versions (Kubernetes, charts, images, driver branch, CUDA, etcd, Ceph) live in one YAML file that
# Ansible loads as group_vars of every playbook and the Pulumi program reads through load_pins().
PINS_FILE = Path(__file__).resolve().parents[1] / "playbooks" / "group_vars" / "all" / "versions.yml"


@functools.cache
def load_pins(path: Path = PINS_FILE) -> dict[str, Any]:
    """The pins file as a dict without its `pins_` prefix (`kubernetes_version`, `charts`, `images`, ...)."""
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict) or not all(str(key).startswith("pins_") for key in data):
        raise ValueError(f"{path}: expected a mapping of pins_* keys")
    return {key.removeprefix("pins_"): value for key, value in data.items()}
