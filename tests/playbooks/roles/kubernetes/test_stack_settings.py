"""The sample stacks' inventories carry what the kubernetes role needs now that site.yml installs Kubernetes:
an HA control plane needs a stable API address (the role refuses one without it), and etcd members on the
control-plane hosts mean kubeadm must use that cluster rather than start a stacked etcd on the same ports."""

import json
import subprocess

import pytest

from platformctl.checks import VENV_BIN
from platformctl.paths import STACKS_DIR


def inventory(stack: str) -> dict:
    answer = subprocess.run(
        [str(VENV_BIN / "ansible-inventory"), "-i", str(STACKS_DIR / stack / "inventory.yml"), "--list"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(answer.stdout)


def hosts(listing: dict, group: str) -> set[str]:
    return set(listing.get(group, {}).get("hosts", []))


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_stack_settings_fit_its_control_plane_and_etcd(stack):
    listing = inventory(stack)
    control_planes = hosts(listing, "kube_control_plane")
    hostvars = listing["_meta"]["hostvars"]
    for host in control_planes:
        settings = hostvars[host]
        if len(control_planes) > 1:
            assert settings.get("kubernetes_control_plane_endpoint"), f"{stack}: {host} lacks the API address"
        if control_planes & hosts(listing, "etcd"):
            assert settings.get("kubernetes_external_etcd") is True, f"{stack}: kubeadm would start an etcd"
