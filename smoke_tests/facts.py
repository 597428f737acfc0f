"""Small readers of host facts shared by checks: each returns data, the checks decide and word the verdict."""

from __future__ import annotations

import json

from testinfra.host import Host

# Ref: capability numbers from linux/capability.h
CAP_SYS_TIME = 25


def unit_state(host: Host, unit: str) -> dict[str, str]:
    """systemd's view of a unit: LoadState, ActiveState, SubState, UnitFileState, Result, ConditionResult."""
    props = ("LoadState", "ActiveState", "SubState", "UnitFileState", "Result", "ConditionResult")
    out = host.run("systemctl show %s " + " ".join(f"-p {p}" for p in props), unit)
    state = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    return {p: state.get(p, "") for p in props}


def describe_unit(state: dict[str, str]) -> str:
    """e.g. 'inactive (dead), result exit-code, unit file enabled'."""
    if state["LoadState"] != "loaded":
        return f"not loaded ({state['LoadState'] or 'unknown'})"
    text = f"{state['ActiveState']} ({state['SubState']})"
    if state["Result"] and state["Result"] != "success":
        text += f", result {state['Result']}"
    return text + f", unit file {state['UnitFileState'] or 'unknown'}"


def unit_conditions(host: Host, unit: str) -> list[tuple[str, bool, str]]:
    """The unit's declared Condition*= settings as (type, negated, parameter)."""
    path = "/org/freedesktop/systemd1/unit/" + "".join(c if c.isalnum() else f"_{ord(c):02x}" for c in unit)
    out = host.run(
        "busctl --json=short get-property org.freedesktop.systemd1 %s "
        "org.freedesktop.systemd1.Unit Conditions",
        path,
    )
    if out.rc != 0:
        return []
    return [(kind, negate, param) for kind, _trigger, negate, param, _state in json.loads(out.stdout)["data"]]


def container(host: Host) -> str | None:
    """The container technology the host runs in (systemd-nspawn, lxc, docker...), or None."""
    out = host.run("systemd-detect-virt --container")
    name = out.stdout.strip()
    return name if out.rc == 0 and name and name != "none" else None


def has_capability(host: Host, number: int) -> bool:
    """Whether PID 1's bounding set holds the capability (a container may lack it for good)."""
    for line in host.file("/proc/1/status").content_string.splitlines():
        if line.startswith("CapBnd:"):
            return bool(int(line.split()[1], 16) >> number & 1)
    return True


def config_lines(text: str) -> list[str]:
    """Non-empty lines without comments (# or ;)."""
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith(";")]
