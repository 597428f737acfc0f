"""kubeadm's configuration from role kubernetes, rendered with Ansible's templar from the role's defaults."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from platformctl.paths import PLAYBOOKS_DIR
from smoke_tests.rolevars import playbook_group_vars

ROLE = PLAYBOOKS_DIR / "roles" / "kubernetes"
GROUPS = {"kube_control_plane": ["cp1", "cp2", "cp3"], "etcd": ["e1", "e2", "e3"], "all": []}
HOSTVARS = {name: {"ansible_host": f"10.0.0.{i}"}
            for i, name in enumerate(["cp1", "cp2", "cp3", "e1", "e2", "e3"], 1)}


def render(**overrides: Any) -> list[dict[str, Any]]:
    defaults = yaml.safe_load((ROLE / "defaults/main.yml").read_text())
    variables = {**defaults, **playbook_group_vars(), "inventory_hostname": "cp1",
                 "inventory_dir": "/repo/stacks/prod",
                 "ansible_host": "10.0.0.1", "groups": GROUPS, "hostvars": HOSTVARS,
                 "ansible_managed": "Ansible managed", **overrides}
    trusted = {k: trust_as_template(v) if isinstance(v, str) else v for k, v in variables.items()}
    templar = Templar(loader=DataLoader(), variables=trusted)
    text = templar.template(trust_as_template((ROLE / "templates/kubeadm-config.yaml.j2").read_text()))
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


def by_kind(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    kinds = {doc["kind"]: doc for doc in docs}
    assert len(kinds) == len(docs), "one document per kind"
    return kinds


def test_documents_kinds_and_api_versions():
    docs = render()
    assert [(d["apiVersion"], d["kind"]) for d in docs] == [
        ("kubeadm.k8s.io/v1beta4", "InitConfiguration"),
        ("kubeadm.k8s.io/v1beta4", "ClusterConfiguration"),
        ("kubelet.config.k8s.io/v1beta1", "KubeletConfiguration")]


def test_single_control_plane_defaults():
    docs = by_kind(render())
    init, cluster = docs["InitConfiguration"], docs["ClusterConfiguration"]
    kubelet = docs["KubeletConfiguration"]
    assert init["localAPIEndpoint"] == {"advertiseAddress": "10.0.0.1", "bindPort": 6443}
    assert init["nodeRegistration"]["name"] == "cp1"
    assert init["nodeRegistration"]["criSocket"] == "unix:///run/containerd/containerd.sock"
    assert cluster["kubernetesVersion"] == "v" + playbook_group_vars()["pins_kubernetes_version"]
    assert cluster["clusterName"] == "prod"
    assert cluster["controlPlaneEndpoint"] == "10.0.0.1:6443"
    assert cluster["networking"] == {"podSubnet": "10.244.0.0/16", "serviceSubnet": "10.96.0.0/12"}
    assert cluster["etcd"] == {"local": {"dataDir": "/var/lib/etcd"}}
    assert set(cluster["apiServer"]["certSANs"]) == {"10.0.0.1", "cp1"}
    assert kubelet["cgroupDriver"] == "systemd"
    assert kubelet["containerRuntimeEndpoint"] == init["nodeRegistration"]["criSocket"]


def test_ha_endpoint_and_external_etcd_from_the_etcd_group():
    cluster = by_kind(render(kubernetes_control_plane_endpoint="k8s-api.example.internal:6443",
                             kubernetes_external_etcd=True,
                             kubernetes_api_cert_sans=["k8s-api.example.internal"]))["ClusterConfiguration"]
    assert cluster["controlPlaneEndpoint"] == "k8s-api.example.internal:6443"
    assert cluster["etcd"] == {"external": {
        "endpoints": ["https://10.0.0.4:2379", "https://10.0.0.5:2379", "https://10.0.0.6:2379"],
        "caFile": "/etc/kubernetes/pki/etcd-external/ca.crt",
        "certFile": "/etc/kubernetes/pki/etcd-external/client.crt",
        "keyFile": "/etc/kubernetes/pki/etcd-external/client.key"}}
    assert "k8s-api.example.internal" in cluster["apiServer"]["certSANs"]


def test_repository_url_follows_the_pinned_minor_version():
    defaults = yaml.safe_load((ROLE / "defaults/main.yml").read_text())
    templar = Templar(loader=DataLoader(), variables={"kubernetes_version": "1.31.9"})
    url = templar.template(trust_as_template(defaults["kubernetes_repo_url"]))
    assert url == "https://pkgs.k8s.io/core:/stable:/v1.31/deb/"


@pytest.mark.parametrize("version", ["1.32", "v1.32.4", "latest"])
def test_version_pin_must_be_exact(version):
    tasks = yaml.safe_load((ROLE / "tasks/main.yml").read_text())
    condition = tasks[0]["ansible.builtin.assert"]["that"][0]
    templar = Templar(loader=DataLoader(), variables={"kubernetes_version": version})
    assert templar.template(trust_as_template("{{ " + condition + " }}")) is False
