"""The pins file is one source for both sides: Python reads it through platformctl.versions, and Ansible
loads it as group_vars of every playbook under playbooks/ (checked with ansible-inventory, which applies
playbook-adjacent group_vars exactly as ansible-playbook does)."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from platformctl import versions

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_INVENTORY = Path(sys.executable).parent / "ansible-inventory"


def test_python_reads_the_pins():
    pins = versions.load_pins()
    assert {
        "kubernetes_version",
        "nvidia_driver_branch",
        "cuda_version",
        "etcd_version",
        "etcd_package_version",
        "ceph_version",
        "ceph_package_version",
        "charts",
        "images",
    } <= set(pins)
    for chart in pins["charts"].values():
        assert set(chart) == {"repo", "chart", "version"} and chart["repo"].startswith("https://")
    assert versions.LAB_DEBIAN_SUITE == "bookworm"  # the lab's constants are untouched


@pytest.mark.parametrize("stack,host", [("staging", "stg-gpu1"), ("production", "prod-cp1")])
def test_ansible_reads_the_same_pins(stack, host):
    out = subprocess.run(
        [
            str(ANSIBLE_INVENTORY),
            "-i",
            str(REPO / "stacks" / stack / "inventory.yml"),
            "--playbook-dir",
            str(REPO / "playbooks"),
            "--host",
            host,
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    hostvars = json.loads(out.stdout)
    pins = versions.load_pins()
    assert {k.removeprefix("pins_"): v for k, v in hostvars.items() if k.startswith("pins_")} == pins


# A version (1.17.0, v0.17.1, 3.4.23-4+b4) or an image reference with a tag or digest, as a whole token.
VERSION = re.compile(r"v?\d+\.\d+(\.\d+)?([-+~][\w.+~-]+)?")
IMAGE = re.compile(r"[a-z0-9][a-z0-9.-]*(:\d+)?(/[a-z0-9._-]+)+(:\w[\w.-]{0,127}|@sha256:[0-9a-f]{64})")
# Where deployed versions would be written: the program, the roles' settings, the playbooks, the stack files.
YAML_SETTINGS = [
    *REPO.glob("playbooks/*.yml"),
    *REPO.glob("playbooks/roles/*/defaults/*.yml"),
    *REPO.glob("playbooks/roles/*/vars/*.yml"),
    *REPO.glob("stacks/*/group_vars/*.yml"),
    *REPO.glob("stacks/Pulumi.*.yaml"),
    REPO / "Pulumi.yaml",
]


def looks_pinned(text: str) -> bool:
    return any(VERSION.fullmatch(t) or IMAGE.fullmatch(t) for t in re.split(r"[\s\"',=\[\]{}()|]+", text))


def strings(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif isinstance(value, str):
        yield value


def constants(tree: ast.AST):
    """String constants that are values, not docstrings."""
    docs = {
        id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            yield node


def test_no_version_literal_in_the_program_or_the_settings():
    """Every version the program and the roles deploy comes from the pins file: no string constant of infra/
    and no setting of a role, playbook or stack file looks like a version or a tagged image."""
    found = [
        f"{path.relative_to(REPO)}:{node.lineno}: {node.value!r}"
        for path in sorted((REPO / "infra").rglob("*.py"))
        for node in constants(ast.parse(path.read_text()))
        if looks_pinned(node.value)
    ]
    found += [
        f"{path.relative_to(REPO)}: {value!r}"
        for path in sorted(YAML_SETTINGS)
        for value in strings(yaml.safe_load(path.read_text()))
        if looks_pinned(value)
    ]
    assert found == [], "pin these in playbooks/group_vars/all/versions.yml and read them from there"


def test_the_scan_finds_a_literal():
    assert looks_pinned("nvcr.io/nvidia/k8s-device-plugin:v0.17.1") and looks_pinned("version: 1.17.0")
    assert looks_pinned("etcd-server=3.4.23-4+b4")
    assert not looks_pinned("0.0.0.0") and not looks_pinned("kubernetes:apps/v1:Deployment")
    assert not looks_pinned("{{ pins_images.pause }}") and not looks_pinned("10.244.0.0/16")


def test_pinned_images_are_written_nowhere_else():
    """No tracked file but the pins file (and tests) spells a pinned image; a Dockerfile's `ARG NAME=<pin>`
    default is the one exception (a Dockerfile cannot read YAML; the image's test keeps it equal)."""
    images = set(versions.load_pins()["images"].values())
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    found = []
    for name in tracked:
        path = REPO / name
        if name.startswith("tests/") or path == versions.PINS_FILE or not path.is_file():
            continue
        try:
            lines = path.read_text().splitlines()
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(lines, 1):
            code = line.split("#", 1)[0] if path.suffix in (".py", ".yml", ".yaml") else line
            if any(image in code for image in images) and not re.match(r"ARG \w+=", line):
                found.append(f"{name}:{number}: {line.strip()}")
    assert found == []


def test_images_agree_with_the_version_pins():
    """Where one version appears twice in the pins file (a version and an image tag), the two agree."""
    pins = versions.load_pins()
    images = {name: ref.rsplit(":", 1)[1] for name, ref in pins["images"].items()}
    assert images["etcd"].startswith(pins["etcd_version"] + "-")
    assert images["ceph"] == "v" + pins["ceph_version"]
    assert images["nvidia_device_plugin"] == "v" + pins["charts"]["nvidia_device_plugin"]["version"]
    assert pins["charts"]["rook_ceph"]["version"] == pins["charts"]["rook_ceph_cluster"]["version"]
