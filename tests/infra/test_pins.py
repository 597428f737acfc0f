"""The pins file is one source for both sides: Python reads it through platformctl.versions, and Ansible
loads it as group_vars of every playbook under playbooks/ (checked with ansible-inventory, which applies
playbook-adjacent group_vars exactly as ansible-playbook does)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

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
        "ceph_version",
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
