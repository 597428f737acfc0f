"""Reading a stack inventory through the real ansible-inventory."""

from __future__ import annotations

import pytest
import yaml

from smoke_tests.inventory import EnvironmentProblem, Inventory
from tests.smoke_tests.conftest import LOCAL


def test_groups_include_child_groups(tmp_path):
    path = tmp_path / "inv.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "hosts": {h: dict(LOCAL) for h in ("node1", "node2", "node3")},
                    "children": {
                        "kube_control_plane": {"hosts": {"node1": None}},
                        "kube_node": {"hosts": {"node2": None, "node3": None}},
                        "k8s_cluster": {"children": {"kube_control_plane": None, "kube_node": None}},
                    },
                }
            }
        )
    )
    inventory = Inventory.load(path)
    assert inventory.hosts() == ["node1", "node2", "node3"]
    assert inventory.hosts("k8s_cluster") == ["node1", "node2", "node3"]
    assert inventory.hosts("kube_node") == ["node2", "node3"]
    assert inventory.hosts("gpu_nodes") == []
    assert inventory.group_names("node2") == ["k8s_cluster", "kube_node"]
    assert inventory.hostvars("node1")["ansible_connection"] == "local"


def test_missing_inventory(tmp_path):
    with pytest.raises(EnvironmentProblem, match="does not exist"):
        Inventory.load(tmp_path / "absent.yml")


def test_inventory_without_hosts(tmp_path):
    path = tmp_path / "empty.yml"
    path.write_text("all:\n  children: {}\n")
    with pytest.raises(EnvironmentProblem, match="lists no hosts"):
        Inventory.load(path)
