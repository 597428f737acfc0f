"""Host prerequisites for the lab: root, systemd-nspawn, debootstrap, iptables, iproute2, ssh."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from platformctl.lab.shell import LabError, run


@dataclass(frozen=True)
class Tool:
    command: str  # a command on PATH, or an absolute path to a file that must exist
    package: str  # the Debian/Ubuntu package that provides it

    def present(self) -> bool:
        if self.command.startswith("/"):
            return Path(self.command).exists()
        return shutil.which(self.command) is not None


REQUIRED_TOOLS = (
    Tool("systemd-nspawn", "systemd-container"),
    Tool("debootstrap", "debootstrap"),
    Tool("iptables", "iptables"),
    Tool("ip", "iproute2"),
    Tool("ssh", "openssh-client"),
    Tool("ssh-keygen", "openssh-client"),
    # debootstrap verifies Debian's release signatures; Ubuntu hosts lack this keyring by default.
    Tool("/usr/share/keyrings/debian-archive-keyring.gpg", "debian-archive-keyring"),
)


# Not needed by the lab itself but installed by scripts/setup.sh: the job service's etcd store tests start a
# real local etcd, and operators use etcdctl against the platform's cluster.
SERVICE_TOOLS = (
    Tool("/usr/bin/etcd", "etcd-server"),
    Tool("etcdctl", "etcd-client"),
)


def missing_tools(tools: tuple[Tool, ...] | None = None) -> list[Tool]:
    return [tool for tool in (REQUIRED_TOOLS if tools is None else tools) if not tool.present()]


def fix_command(tools: list[Tool]) -> str:
    packages = " ".join(sorted({tool.package for tool in tools}))
    return f"apt-get update && apt-get install -y {packages}"


def ensure(install: bool = True) -> None:
    """Fail with the exact fix when the lab cannot run here; install missing packages when allowed."""
    if os.geteuid() != 0:
        raise LabError("the lab needs root (network namespaces, mounts, nspawn): re-run as root (`sudo -i`)")
    missing = missing_tools()
    if not missing:
        return
    if not install or shutil.which("apt-get") is None:
        names = ", ".join(tool.command for tool in missing)
        raise LabError(f"missing {names}; install with: {fix_command(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    os.environ.update(env)
    run(["apt-get", "update", "-qq"], timeout=600)
    run(["apt-get", "install", "-y", "-qq", *sorted({tool.package for tool in missing})], timeout=900)
    still = missing_tools()
    if still:
        raise LabError(f"still missing after install: {', '.join(t.command for t in still)}")


if __name__ == "__main__":
    # Used by scripts/setup.sh before the virtualenv exists: print the packages that provide missing tools.
    import sys

    if sys.argv[1:] == ["--missing-packages"]:
        everything = missing_tools(REQUIRED_TOOLS + SERVICE_TOOLS)
        print("\n".join(sorted({tool.package for tool in everything})))
    else:
        sys.exit("usage: python -m platformctl.lab.prereqs --missing-packages")
