"""Role `common` on every host: base packages, time sync, swap, kernel modules, sysctls, /etc/hosts."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

import pytest
from testinfra.host import Host

from smoke_tests import facts
from smoke_tests.inventory import Inventory
from smoke_tests.rolevars import RoleVars

pytestmark = pytest.mark.smoke(group="all", role="common")

# Debian's unit and package name; other families would map theirs here.
CHRONY = "chrony"


def test_packages_installed(host: Host, role_vars: RoleVars) -> None:
    wanted = [str(p).split("=")[0] for p in role_vars["common_packages"]]
    missing = [p for p in wanted if not host.package(p).is_installed]
    assert not missing, f"packages not installed: {', '.join(missing)} (common_packages)"


def test_chrony_enabled_and_running(host: Host, smoke_note: Callable[[str], None]) -> None:
    """Enabled, and either running or skipped by systemd only because the host is a container without
    CAP_SYS_TIME (chrony.service has ConditionCapability=CAP_SYS_TIME; the host kernel keeps time then)."""
    assert host.package(CHRONY).is_installed, f"package {CHRONY} is not installed"
    state = facts.unit_state(host, f"{CHRONY}.service")
    assert state["UnitFileState"] == "enabled", (
        f"{CHRONY}.service is not enabled: {facts.describe_unit(state)}"
    )
    if state["ActiveState"] == "active":
        return
    conditions = facts.unit_conditions(host, f"{CHRONY}.service")
    only_cap_sys_time = conditions == [("ConditionCapability", False, "CAP_SYS_TIME")]
    where = facts.container(host)
    explained = (
        state["ConditionResult"] == "no"
        and only_cap_sys_time
        and where is not None
        and not facts.has_capability(host, facts.CAP_SYS_TIME)
    )
    assert explained, (
        f"{CHRONY}.service is {facts.describe_unit(state)}, start condition result "
        f"{state['ConditionResult'] or 'unknown'}; not explained by a container without "
        f"CAP_SYS_TIME (container: {where or 'none'}, conditions: {conditions or 'none'})"
    )
    smoke_note(
        f"{CHRONY}.service enabled but not running: its only start condition, "
        f"ConditionCapability=CAP_SYS_TIME, is unmet because this {where} container has no "
        "CAP_SYS_TIME; the host kernel keeps the time"
    )


def test_timesync_servers_configured(host: Host, role_vars: RoleVars) -> None:
    servers = [str(s) for s in role_vars["common_timesync_servers"] or []]
    if not servers:
        pytest.skip("common_timesync_servers is empty: chrony keeps its packaged sources")
    # chronyd -p prints the effective configuration, includes resolved, wherever the role wrote it.
    out = host.run("chronyd -p")
    assert out.rc == 0, f"chronyd -p cannot parse the chrony configuration: {out.stderr.strip()}"
    sources = {
        line.split()[1]
        for line in out.stdout.splitlines()
        if line.split()[:1] in (["server"], ["pool"], ["peer"]) and len(line.split()) > 1
    }
    missing = [s for s in servers if s not in sources]
    assert not missing, (
        f"chrony does not use {', '.join(missing)} (common_timesync_servers); "
        f"its sources: {', '.join(sorted(sources)) or 'none'}"
    )


def test_swap_off(host: Host) -> None:
    swaps = host.file("/proc/swaps").content_string.splitlines()[1:]
    active = [line.split()[0] for line in swaps if line.strip()]
    assert not active, f"swap is on: {', '.join(active)} (the kubelet requires it off)"


def test_modules_load_file(host: Host, role_vars: RoleVars) -> None:
    path = role_vars["common_modules_load_file"]
    wanted = [str(m) for m in role_vars["common_kernel_modules"]]
    file = host.file(path)
    assert file.is_file, f"{path} is missing (common_modules_load_file)"
    listed = facts.config_lines(file.content_string)
    missing = [m for m in wanted if m not in listed]
    extra = [m for m in listed if m not in wanted]
    assert not missing and not extra, f"{path} does not match common_kernel_modules: " + "; ".join(
        part
        for part in (
            f"missing {', '.join(missing)}" if missing else "",
            f"unexpected {', '.join(extra)}" if extra else "",
        )
        if part
    )


def test_sysctl_file(host: Host, role_vars: RoleVars) -> None:
    path = role_vars["common_sysctl_file"]
    wanted = _sysctl_strings(role_vars["common_sysctl"])
    file = host.file(path)
    assert file.is_file, f"{path} is missing (common_sysctl_file)"
    written = {}
    for line in facts.config_lines(file.content_string):
        key, _, value = line.partition("=")
        written[key.strip().removeprefix("-")] = " ".join(value.split())
    wrong = [
        f"{k} = {written.get(k, '(absent)')} (want {v})" for k, v in wanted.items() if written.get(k) != v
    ]
    extra = sorted(set(written) - set(wanted))
    assert not wrong and not extra, f"{path} does not match common_sysctl: " + "; ".join(
        wrong + [f"unexpected {k}" for k in extra]
    )


def test_ip_forward_applied(host: Host) -> None:
    value = host.run("sysctl -n net.ipv4.ip_forward").stdout.strip()
    assert value == "1", (
        f"net.ipv4.ip_forward is {value or 'unreadable'} in the running kernel, want 1 "
        "(pods cannot be routed)"
    )


def test_sysctls_applied(host: Host, role_vars: RoleVars, smoke_note: Callable[[str], None]) -> None:
    """Every configured sysctl has its value in the running kernel. A container cannot set kernel-wide
    keys (only net.* is per network namespace): those are noted, not failed, when the host is a container."""
    wanted = _sysctl_strings(role_vars["common_sysctl"])
    if not wanted:
        pytest.skip("common_sysctl is empty")
    out = host.run("sysctl " + " ".join(["%s"] * len(wanted)), *wanted)
    live = {}
    for line in out.stdout.splitlines():
        key, _, value = line.partition("=")
        live[key.strip()] = " ".join(value.split())
    wrong = {k: live.get(k, "(unreadable)") for k, v in wanted.items() if live.get(k) != v}
    where = facts.container(host) if wrong else None
    tolerated = {k: v for k, v in wrong.items() if where and not k.startswith("net.")}
    failed = {k: v for k, v in wrong.items() if k not in tolerated}
    assert not failed, "sysctls not applied: " + "; ".join(
        f"{k} is {v}, want {wanted[k]}" for k, v in failed.items()
    )
    if tolerated:
        smoke_note(
            f"kernel-wide sysctls not settable inside this {where} container (configured in "
            f"{role_vars['common_sysctl_file']}, applied on real hosts): "
            f"{', '.join(sorted(tolerated))}"
        )


def test_etc_hosts_lists_inventory(
    host: Host, role_vars: RoleVars, inventory: Inventory, smoke_note: Callable[[str], None]
) -> None:
    """Every inventory host whose ansible_host is an IP address resolves to it (the role's managed block);
    hosts addressed by DNS name are left to DNS."""
    if not role_vars["common_manage_etc_hosts"]:
        pytest.skip("common_manage_etc_hosts is false: /etc/hosts is not managed")
    addresses: dict[str, set[str]] = {}
    for line in facts.config_lines(host.file("/etc/hosts").content_string):
        address, *names = line.split()
        for name in names:
            addresses.setdefault(name, set()).add(address)
    problems, by_dns = [], []
    for name in inventory.hosts():
        expected = _ip(inventory.hostvars(name).get("ansible_host"))
        if expected is None:
            by_dns.append(name)
        elif name not in addresses:
            problems.append(f"{name} missing (want {expected})")
        elif expected not in addresses[name]:
            problems.append(f"{name} maps to {', '.join(sorted(addresses[name]))}, want {expected}")
    assert not problems, "/etc/hosts does not list every inventory host: " + "; ".join(problems)
    if by_dns:
        smoke_note(f"not in /etc/hosts by design (ansible_host is a DNS name): {', '.join(by_dns)}")


def _sysctl_strings(settings: dict[str, Any] | None) -> dict[str, str]:
    return {str(k): " ".join(str(v).split()) for k, v in (settings or {}).items()}


def _ip(value: Any) -> str | None:
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        return None
