"""The pod network of role kubernetes: manifest URLs from the version pins, one pod CIDR shared by kubeadm,
Calico and flannel, and the choice of CNI checked by the role's argument spec."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from smoke_tests.rolevars import playbook_group_vars
from tests.playbooks.roles.kubernetes.templating import load_yaml, render, render_template, task

PINS = playbook_group_vars()
# net-conf.json as flannel's release manifest ships it (kube-flannel.yml, ConfigMap kube-flannel-cfg).
FLANNEL_NET_CONF = """  net-conf.json: |
    {
      "Network": "10.244.0.0/16",
      "EnableNFTables": false,
      "Backend": {
        "Type": "vxlan"
      }
    }
"""


def include_vars(**overrides: Any) -> dict[str, str]:
    """The variables main.yml hands to cni.yml, rendered for one choice of kubernetes_cni."""
    include = next(
        t for t in load_yaml("tasks/main.yml") if t.get("ansible.builtin.include_tasks") == "cni.yml"
    )
    names = ("kubernetes_cni_manifest_url", "kubernetes_cni_manifest")
    return {
        name: render(
            include["vars"][name],
            kubernetes_cni_versions=include["vars"]["kubernetes_cni_versions"],
            **overrides,
        )
        for name in names
    }


def kubeadm_pod_subnet(**overrides: Any) -> str:
    docs = [d for d in yaml.safe_load_all(render_template("kubeadm-config.yaml.j2", **overrides)) if d]
    return next(d for d in docs if d["kind"] == "ClusterConfiguration")["networking"]["podSubnet"]


def test_calico_manifest_is_the_pinned_tigera_operator():
    rendered = include_vars(kubernetes_cni="calico")
    version = PINS["pins_calico_version"]
    assert rendered["kubernetes_cni_manifest_url"] == (
        f"https://raw.githubusercontent.com/projectcalico/calico/{version}/manifests/tigera-operator.yaml"
    )
    assert rendered["kubernetes_cni_manifest"] == f"/etc/kubernetes/cni/calico-{version}.yaml"


def test_flannel_manifest_is_the_pinned_release():
    rendered = include_vars(kubernetes_cni="flannel")
    version = PINS["pins_flannel_version"]
    assert rendered["kubernetes_cni_manifest_url"] == (
        f"https://github.com/flannel-io/flannel/releases/download/{version}/kube-flannel.yml"
    )
    assert rendered["kubernetes_cni_manifest"] == f"/etc/kubernetes/cni/flannel-{version}.yaml"


def test_no_manifest_when_the_site_brings_its_own():
    assert include_vars(kubernetes_cni="none")["kubernetes_cni_manifest_url"] == ""


@pytest.mark.parametrize("subnet", [None, "192.168.128.0/17"])
def test_calico_ip_pool_is_kubeadms_pod_subnet(subnet):
    overrides = {"kubernetes_pod_subnet": subnet} if subnet else {}
    installation = yaml.safe_load(render_template("calico-installation.yaml.j2", **overrides))
    assert (installation["apiVersion"], installation["kind"]) == ("operator.tigera.io/v1", "Installation")
    pools = installation["spec"]["calicoNetwork"]["ipPools"]
    assert [pool["cidr"] for pool in pools] == [kubeadm_pod_subnet(**overrides)]
    assert pools[0]["cidr"] == (subnet or "10.244.0.0/16")


@pytest.mark.parametrize("subnet", [None, "192.168.128.0/17"])
def test_flannel_network_is_kubeadms_pod_subnet(subnet):
    overrides = {"kubernetes_pod_subnet": subnet} if subnet else {}
    step = task("cni.yml", "Give flannel the cluster's pod CIDR")["ansible.builtin.replace"]
    # ansible.builtin.replace is Python's re.subn over the file with re.MULTILINE.
    replaced, count = re.subn(
        step["regexp"], render(step["replace"], **overrides), FLANNEL_NET_CONF, flags=re.MULTILINE
    )
    assert count == 1
    network = yaml.safe_load(replaced)["net-conf.json"]
    assert yaml.safe_load(network)["Network"] == kubeadm_pod_subnet(**overrides)


def test_cni_choice_is_validated_and_defaults_to_calico():
    spec = load_yaml("meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    assert spec["kubernetes_cni"]["choices"] == ["calico", "flannel", "none"]
    assert load_yaml("defaults/main.yml")["kubernetes_cni"] == "calico"


def test_the_first_control_plane_alone_installs_the_cni_after_init():
    tasks = load_yaml("tasks/main.yml")
    names = [t["name"] for t in tasks]
    assert (
        names.index("Initialise or join the control plane")
        < names.index("Install the pod network")
        < names.index("Join workers")
    )
    include = tasks[names.index("Install the pod network")]
    assert include["when"] == "inventory_hostname == kubernetes_first_control_plane"
