"""kubeadm's configuration from role kubernetes, rendered with Ansible's templar from the role's defaults."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from smoke_tests.rolevars import playbook_group_vars
from tests.playbooks.roles.kubernetes.templating import evaluate, load_yaml, render, render_template


def render_docs(**overrides: Any) -> list[dict[str, Any]]:
    text = render_template("kubeadm-config.yaml.j2", **overrides)
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


def by_kind(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    kinds = {doc["kind"]: doc for doc in docs}
    assert len(kinds) == len(docs), "one document per kind"
    return kinds


def test_documents_kinds_and_api_versions():
    docs = render_docs()
    assert [(d["apiVersion"], d["kind"]) for d in docs] == [
        ("kubeadm.k8s.io/v1beta4", "InitConfiguration"),
        ("kubeadm.k8s.io/v1beta4", "ClusterConfiguration"),
        ("kubelet.config.k8s.io/v1beta1", "KubeletConfiguration"),
    ]


def test_single_control_plane_defaults():
    docs = by_kind(render_docs())
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
    cluster = by_kind(
        render_docs(
            kubernetes_control_plane_endpoint="k8s-api.example.internal:6443",
            kubernetes_external_etcd=True,
            kubernetes_api_cert_sans=["k8s-api.example.internal"],
        )
    )["ClusterConfiguration"]
    assert cluster["controlPlaneEndpoint"] == "k8s-api.example.internal:6443"
    assert cluster["etcd"] == {
        "external": {
            "endpoints": ["https://10.0.0.4:2379", "https://10.0.0.5:2379", "https://10.0.0.6:2379"],
            "caFile": "/etc/kubernetes/pki/etcd-external/ca.crt",
            "certFile": "/etc/kubernetes/pki/etcd-external/client.crt",
            "keyFile": "/etc/kubernetes/pki/etcd-external/client.key",
        }
    }
    assert "k8s-api.example.internal" in cluster["apiServer"]["certSANs"]


def test_repository_url_follows_the_pinned_minor_version():
    defaults = load_yaml("defaults/main.yml")
    url = render(defaults["kubernetes_repo_url"], kubernetes_version="1.31.9")
    assert url == "https://pkgs.k8s.io/core:/stable:/v1.31/deb/"
    assert render(defaults["kubernetes_repo_key_url"], kubernetes_version="1.31.9") == url + "Release.key"


@pytest.mark.parametrize("version", ["1.32", "v1.32.4", "latest"])
def test_version_pin_must_be_exact(version):
    tasks = load_yaml("tasks/main.yml")
    check = next(t for t in tasks if t["name"] == "Check the role's settings")
    assert evaluate(check["ansible.builtin.assert"]["that"][0], kubernetes_version=version) is False
