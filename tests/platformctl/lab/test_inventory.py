"""The lab inventory has the platform's groups, and etcd always gets an odd member count."""

import pytest
import yaml

from platformctl.lab import config, inventory
from platformctl.paths import STACKS_DIR


@pytest.mark.parametrize("count", range(1, 7))
def test_etcd_membership_is_odd_and_every_group_is_populated(count):
    layout = inventory.group_layout([f"node{i}" for i in range(1, count + 1)])
    assert len(layout["etcd"]) % 2 == 1
    assert all(layout.values()), layout


def test_rendered_inventory_addresses_and_ssh_settings():
    lab = config.LabConfig("lab-t", 7, 3, "/repo")
    rendered = inventory.render(lab)["all"]
    assert rendered["hosts"]["node2"]["ansible_host"] == "198.18.7.12"
    assert "StrictHostKeyChecking=yes" in rendered["vars"]["ansible_ssh_common_args"]
    assert rendered["children"]["k8s_cluster"]["children"].keys() == {"kube_control_plane", "kube_node"}


def _groups(tree: dict) -> set[str]:
    found = set()
    for name, body in (tree.get("children") or {}).items():
        found.add(name)
        found |= _groups(body or {})
    return found


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_lab_has_the_same_groups_as_the_sample_stacks(stack):
    """Playbooks and smoke checks target groups; the lab must offer every group the real stacks use."""
    sample = yaml.safe_load((STACKS_DIR / stack / "inventory.yml").read_text())
    lab = inventory.render(config.LabConfig("lab-t", 7, 3, "/repo"))
    assert _groups(sample["all"]) == _groups(lab["all"])
