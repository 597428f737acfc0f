"""Role `containerd` on Kubernetes hosts: the service, its configuration and the CRI socket.

Checks that need a running containerd (or a parseable configuration) skip, naming the check that failed,
when that prerequisite is missing: a stopped containerd is reported once, as service_active, not as three
failures.
"""

from __future__ import annotations

import tomllib
from pathlib import PurePosixPath
from typing import Any

import pytest
from testinfra.host import Host

from smoke_tests import facts
from smoke_tests.rolevars import RoleVars

pytestmark = pytest.mark.smoke(group="k8s_cluster", role="containerd")

UNIT = "containerd.service"
CRI_PLUGIN = ("io.containerd.grpc.v1", "cri")
CTR_TIMEOUT_S = 10  # a wedged socket must fail the check, not hang the run


@pytest.fixture(scope="module")
def unit(host: Host) -> dict[str, str]:
    return facts.unit_state(host, UNIT)


@pytest.fixture(scope="module")
def config(host: Host, role_vars: RoleVars) -> dict[str, Any] | str:
    """The effective configuration (main file plus imports) as containerd parses it, or its error."""
    out = host.run("containerd --config %s config dump", role_vars["containerd_config_file"])
    if out.rc != 0:
        return (out.stderr.strip().splitlines() or [f"exit {out.rc}"])[-1]
    try:
        return tomllib.loads(out.stdout)
    except tomllib.TOMLDecodeError as exc:
        return f"config dump is not TOML: {exc}"


@pytest.fixture
def running(unit: dict[str, str]) -> None:
    if unit["ActiveState"] != "active":
        pytest.skip(f"{UNIT} is not active (see containerd.service_active)")


@pytest.fixture
def parsed(config: dict[str, Any] | str) -> dict[str, Any]:
    if isinstance(config, str):
        pytest.skip("the configuration does not load (see containerd.config_valid)")
    return config


def test_service_active(unit: dict[str, str]) -> None:
    assert unit["ActiveState"] == "active", f"{UNIT} is {facts.describe_unit(unit)}, want active"


def test_service_enabled(unit: dict[str, str]) -> None:
    assert unit["UnitFileState"] == "enabled", f"{UNIT} is not enabled at boot: {facts.describe_unit(unit)}"


def test_config_valid(config: dict[str, Any] | str, role_vars: RoleVars) -> None:
    assert not isinstance(config, str), (
        f"containerd cannot load {role_vars['containerd_config_file']}: {config}"
    )


def test_dropin_dir_imported(host: Host, role_vars: RoleVars, parsed: dict[str, Any]) -> None:
    """The main file imports the drop-in directory, and containerd loaded every drop-in there.

    `config dump` lists the files it imported (globs expanded), so the pattern is read from the main file.
    """
    main_file = role_vars["containerd_config_file"]
    dropin = PurePosixPath(role_vars["containerd_dropin_dir"])
    assert host.file(str(dropin)).is_directory, (
        f"drop-in directory {dropin} is missing (containerd_dropin_dir)"
    )
    patterns = [str(i) for i in tomllib.loads(host.file(main_file).content_string).get("imports", [])]
    assert any(PurePosixPath(p).parent == dropin for p in patterns), (
        f"{main_file} does not import {dropin}/*: its imports are {patterns or 'empty'} "
        "(drop-ins such as the nvidia runtime would be ignored)"
    )
    present = host.run("find %s -maxdepth 1 -name '*.toml' -type f", str(dropin)).stdout.split()
    loaded = {str(i) for i in parsed.get("imports", [])}
    ignored = [f for f in present if f not in loaded]
    assert not ignored, f"containerd did not load drop-ins {', '.join(ignored)} (imports {patterns})"


def test_systemd_cgroup(parsed: dict[str, Any], role_vars: RoleVars) -> None:
    want = bool(role_vars["containerd_systemd_cgroup"])
    cri = parsed.get("plugins", {}).get(".".join(CRI_PLUGIN), {}).get("containerd", {})
    runtime = cri.get("default_runtime_name", "runc")
    have = cri.get("runtimes", {}).get(runtime, {}).get("options", {}).get("SystemdCgroup")
    shown = "unset" if have is None else str(have).lower()
    assert have is want, (
        f"runtime {runtime}: SystemdCgroup is {shown}, want {str(want).lower()} (containerd_systemd_cgroup)"
    )


def test_cri_socket_answering(host: Host, role_vars: RoleVars, running: None) -> None:
    socket = role_vars["containerd_socket"]
    out = host.run(f"timeout {CTR_TIMEOUT_S} ctr --address %s version", socket)
    assert out.rc == 0 and "Server:" in out.stdout, f"containerd does not answer on {socket}: " + (
        "timed out" if out.rc == 124 else (out.stderr.strip().splitlines() or [f"exit {out.rc}"])[-1]
    )


def test_cri_plugin_ok(host: Host, role_vars: RoleVars, running: None) -> None:
    socket = role_vars["containerd_socket"]
    out = host.run(f"timeout {CTR_TIMEOUT_S} ctr --address %s plugins ls", socket)
    assert out.rc == 0, f"ctr plugins ls failed on {socket}: {out.stderr.strip() or f'exit {out.rc}'}"
    status = next(
        (line.split()[-1] for line in out.stdout.splitlines() if line.split()[:2] == list(CRI_PLUGIN)), None
    )
    assert status == "ok", (
        f"CRI plugin {'.'.join(CRI_PLUGIN)} is {status or 'not loaded'}, want ok "
        f"(the kubelet cannot use this containerd)"
    )
