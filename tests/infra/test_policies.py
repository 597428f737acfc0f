"""infra/policies.py rules called directly (no PolicyPack is constructed, no Pulumi CLI needed)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from infra import policies

DEPLOY = "kubernetes:apps/v1:Deployment"


def deployment(container: dict) -> dict:
    return {"spec": {"template": {"spec": {"containers": [container]}}}}


GOOD = {
    "name": "app",
    "image": "ghcr.io/x/app:1.2.3",
    "readinessProbe": {"httpGet": {"path": "/"}},
    "livenessProbe": {"httpGet": {"path": "/"}},
    "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "1Gi"}},
}


def test_compliant_deployment_passes():
    assert policies.check_resource(DEPLOY, deployment(GOOD)) == []


@pytest.mark.parametrize(
    "image,pinned",
    [
        ("nginx", False),
        ("nginx:latest", False),
        ("registry:5000/nginx", False),
        ("nginx:1.27", True),
        ("registry:5000/team/nginx:1.27", True),
        ("nginx@sha256:" + "a" * 64, True),
        ("nginx:1.27@sha256:" + "b" * 64, True),
        ("nginx@sha256:short", False),
    ],
)
def test_image_pinning(image, pinned):
    assert policies.image_is_pinned(image) is pinned
    assert (policies.images_are_pinned(DEPLOY, deployment({**GOOD, "image": image})) == []) is pinned


def test_gpu_container_needs_gpu_and_memory_limits():
    gpu = {**GOOD, "resources": {"requests": {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": 1}}}
    messages = policies.gpu_containers_have_limits("kubernetes:batch/v1:Job", deployment(gpu))
    assert any("nvidia.com/gpu limit" in m for m in messages) and any("memory limit" in m for m in messages)
    gpu["resources"]["limits"] = {"nvidia.com/gpu": 1, "memory": "8Gi"}
    assert policies.gpu_containers_have_limits("kubernetes:batch/v1:Job", deployment(gpu)) == []


def test_workloads_need_probes_and_requests():
    bare = {"name": "app", "image": "x:1"}
    messages = policies.workloads_have_probes_and_requests("kubernetes:apps/v1:StatefulSet", deployment(bare))
    assert len(messages) == 3
    # DaemonSets are not covered by this rule.
    assert policies.workloads_have_probes_and_requests("kubernetes:apps/v1:DaemonSet", deployment(bare)) == []


def test_production_ha_rule():
    ha = SimpleNamespace(
        etcd_members=5, job_service_replicas=2, ceph_replication=3, harbor_database="external"
    )
    assert policies.production_is_highly_available(ha) == []
    weak = SimpleNamespace(
        etcd_members=1, job_service_replicas=1, ceph_replication=2, harbor_database="internal"
    )
    assert len(policies.production_is_highly_available(weak)) == 4


def test_drift_check():
    same = {"staging": {"gpu-platform:clusterName": "s"}, "production": {"gpu-platform:clusterName": "p"}}
    assert policies.stacks_pin_identical_versions(same) == []
    drift = {
        "staging": {"gpu-platform:harborChartVersion": "1.16"},
        "production": {"gpu-platform:harborChartVersion": "1.17"},
    }
    assert "differs between stacks" in policies.stacks_pin_identical_versions(drift)[0]
    overridden = {
        "staging": {"gpu-platform:driverBranch": "570"},
        "production": {"gpu-platform:driverBranch": "570"},
    }
    assert (
        "pin it in playbooks/group_vars/all/versions.yml"
        in policies.stacks_pin_identical_versions(overridden)[0]
    )


def test_inventory_pin_override_is_flagged():
    flagged = policies.inventories_do_not_override_pins(
        {"staging": {"pins_cuda_version": "12.4"}, "production": None}
    )
    assert flagged == [
        "staging: pins_cuda_version is set in the stack's group_vars; pins live in "
        "playbooks/group_vars/all/versions.yml"
    ]
