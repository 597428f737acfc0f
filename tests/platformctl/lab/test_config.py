"""Lab identity and addressing: names fit the kernel's limits, addresses stay in 198.18.0.0/15."""

import ipaddress

import pytest

from platformctl.lab import config
from platformctl.lab.shell import LabError

IFNAMSIZ = 15  # Linux interface names are at most 15 characters


@pytest.fixture
def state_root(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "STATE_ROOT", tmp_path / "labs")
    return tmp_path / "labs"


def test_names_fit_interface_limits_for_the_largest_lab():
    lab = config.LabConfig("lab-abcdef", config.MAX_LAB_INDEX, config.MAX_NODES, "/repo")
    for node in lab.node_names():
        assert len(lab.host_veth(node)) <= IFNAMSIZ
        assert len(lab.peer_veth(node)) <= IFNAMSIZ
    assert len(lab.bridge) <= IFNAMSIZ


def test_every_address_is_in_the_benchmarking_range():
    lab = config.LabConfig("x", config.MAX_LAB_INDEX, config.MAX_NODES, "/repo")
    assert lab.subnet.subnet_of(config.LAB_SUPERNET)
    for node in lab.node_names():
        assert ipaddress.ip_address(lab.node_ip(node)) in lab.subnet
    assert ipaddress.ip_address(lab.gateway) in lab.subnet


def test_two_labs_get_different_subnets_and_names(state_root):
    with config.host_lock():
        first = config.allocate("lab-one", 3)
        first.save()
        second = config.allocate("lab-two", 3)
    assert first.index != second.index
    assert first.bridge != second.bridge
    first_ns = {first.netns(n) for n in first.node_names()}
    assert first_ns.isdisjoint(second.netns(n) for n in second.node_names())


def test_allocation_is_stable_for_an_existing_lab(state_root):
    lab = config.allocate("lab-one", 3)
    lab.save()
    again = config.allocate("lab-one", 5)
    assert (again.index, again.nodes) == (lab.index, 5)


@pytest.mark.parametrize("nodes", [0, config.MAX_NODES + 1])
def test_node_count_out_of_range_is_refused_with_the_range(state_root, nodes):
    with pytest.raises(LabError, match=r"--nodes must be between 1 and"):
        config.allocate("lab-x", nodes)


def test_unknown_node_names_the_existing_ones():
    lab = config.LabConfig("x", 1, 2, "/repo")
    with pytest.raises(LabError, match="nodes: node1, node2"):
        lab.node_ip("node7")


def test_checkout_lab_writes_the_stack_inventory_and_named_labs_their_own(tmp_path, monkeypatch):
    monkeypatch.delenv("PLATFORM_LAB_ID", raising=False)
    own = config.LabConfig(config.default_lab_id(tmp_path), 1, 3, str(tmp_path))
    named = config.LabConfig("ci-run", 2, 3, str(tmp_path))
    assert own.inventory_path == tmp_path / "stacks/lab/inventory.yml"
    assert named.inventory_path == tmp_path / "stacks/lab/inventory.ci-run.yml"


def test_lab_id_differs_per_checkout(tmp_path, monkeypatch):
    monkeypatch.delenv("PLATFORM_LAB_ID", raising=False)
    assert config.default_lab_id(tmp_path / "a") != config.default_lab_id(tmp_path / "b")
    monkeypatch.setenv("PLATFORM_LAB_ID", "mine")
    assert config.default_lab_id(tmp_path / "a") == "mine"
