"""Every kubectl command of role kubernetes, rendered with Ansible's templar: each runs as the cluster admin
(`kubernetes_kubectl`, vars/main.yml) and renders to plain arguments. Most of them (GPU labels, taint, the
CUDA test pod) only run against a cluster with GPU nodes, which the lab cannot have: this is their check."""

from __future__ import annotations

import json

import pytest

from tests.playbooks.roles.kubernetes.templating import ROLE, all_tasks, load_yaml, render

# What the tasks refer to besides the role's defaults and vars: a manifest, a test pod, a GPU node's labels.
TASK_VARS = {
    "kubernetes_manifest_file": "/var/lib/platform/cni/calico-v3.29.3.yaml",
    "kubernetes_test_pod": "cuda-test-cp1",
    "kubernetes_gpu_node_labels": {"nvidia.com/gpu.present": "true", "nvidia.com/gpu.count": "8"},
    "nvidia_driver_gpu_count": 8,
}


def _kubectl_tasks() -> list[tuple[str, dict]]:
    found = []
    for path in sorted((ROLE / "tasks").glob("*.yml")):
        for entry in all_tasks(path.name):
            command = entry.get("ansible.builtin.command")
            if isinstance(command, dict) and "kubectl" in json.dumps(command.get("argv", "")):
                found.append((f"{path.name}: {entry['name']}", command))
    return found


KUBECTL_TASKS = _kubectl_tasks()


def test_the_role_has_kubectl_tasks_in_every_file_that_talks_to_the_cluster():
    files = {name.split(":")[0] for name, _ in KUBECTL_TASKS}
    assert files == {"apply_manifest.yml", "cni.yml", "gpu_labels.yml", "gpu_node_ready.yml"}


@pytest.mark.parametrize(("name", "command"), KUBECTL_TASKS, ids=[name for name, _ in KUBECTL_TASKS])
def test_each_runs_as_the_cluster_admin_with_plain_arguments(name, command):
    assert isinstance(command["argv"], str), f"{name}: argv should extend kubernetes_kubectl"
    argv = render(command["argv"], **TASK_VARS)
    admin = load_yaml("vars/main.yml")["kubernetes_admin_kubeconfig"]
    assert [str(a) for a in argv[:3]] == ["kubectl", "--kubeconfig", admin]
    assert all(isinstance(a, str) and "{{" not in a and "}}" not in a for a in argv), argv
    assert len(argv) > 3


def test_the_gpu_count_query_keeps_its_escape_and_the_ready_waits_agree():
    """kubectl's jsonpath needs the dot of nvidia.com escaped; both node-Ready waits are one kind of wait."""
    argvs = {name: render(command["argv"], **TASK_VARS) for name, command in KUBECTL_TASKS}
    allocatable = argvs["gpu_node_ready.yml: Wait until allocatable nvidia.com/gpu equals the detected count"]
    assert allocatable[-1] == "jsonpath={.status.allocatable.nvidia\\.com/gpu}"
    for name, timeout in (
        ("cni.yml: Wait until the pod network makes this node Ready", "600"),
        ("gpu_node_ready.yml: Wait until the node is Ready", "600"),
    ):
        assert argvs[name][3:] == ["wait", "--for=condition=Ready", "node/cp1", f"--timeout={timeout}s"]
    labels = argvs["gpu_labels.yml: Label the GPU node"]
    assert labels[3:] == [
        "label",
        "node",
        "cp1",
        "--overwrite",
        "nvidia.com/gpu.present=true",
        "nvidia.com/gpu.count=8",
    ]
