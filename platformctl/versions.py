"""Every version and upstream source the platform pins, in one place.

Python dependencies are pinned in pyproject.toml and locked in constraints.txt; this module holds the
pins that code and playbooks read at run time.
"""

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
