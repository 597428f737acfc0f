"""The whole program under mocks, per stack. No Pulumi engine or CLI exists on these machines (see
tests/infra/conftest.py): pulumi.runtime mocks echo inputs, so these tests check what the program asks for.
Every Kubernetes object the program writes itself is validated offline against the official OpenAPI schema of
the pinned Kubernetes version (kubernetes-validate)."""

from __future__ import annotations

import base64
import runpy

import kubernetes_validate
import pulumi
import pytest
import yaml

from infra import policies
from infra.config import StackConfig, StackConfigError
from platformctl.versions import load_pins
from tests.infra.conftest import (
    PROGRAM,
    REPO,
    SECRETS,
    has_secret,
    resolve,
    run_program,
    set_config,
    stack_config,
)

STACKS = ("staging", "production")
K8S_VERSION = load_pins()["kubernetes_version"]
COMPONENTS = {
    "gpu-platform:nodes:NodeProvisioning",
    "gpu-platform:gpu:GpuSupport",
    "gpu-platform:storage:Storage",
    "gpu-platform:tenants:Tenants",
    "gpu-platform:etcd:EtcdClient",
    "gpu-platform:job_service:JobService",
    "gpu-platform:harbor:Harbor",
}


def k8s_objects(mocks):
    """Objects the program creates directly (Helm releases and the provider are not Kubernetes objects)."""
    return [
        r
        for r in mocks.resources
        if r.type.startswith("kubernetes:") and not r.type.startswith("kubernetes:helm.sh")
    ]


@pytest.mark.parametrize("stack", STACKS)
def test_stack_creates_every_component(stack, pulumi_loop):
    mocks, _, _ = run_program(stack, pulumi_loop)
    types = {r.type for r in mocks.resources}
    assert types >= COMPONENTS
    assert ("gpu-platform:monitoring:Monitoring" in types) == (stack == "production")
    assert mocks.of_type("pulumi:providers:kubernetes")[0].inputs["clusterIdentifier"] == stack


# The stacks as committed, and the other per-stack choices (in-cluster etcd, the GPU Operator, an existing
# cluster's kubeconfig) on top of staging.
VARIANTS = [
    ("staging", {}),
    ("production", {}),
    ("staging", {"etcdMode": "in-cluster", "gpuStack": "gpu-operator", "monitoring": True}),
]


@pytest.mark.parametrize("stack,overrides", VARIANTS)
def test_every_kubernetes_object_validates_against_the_openapi_schema(stack, overrides, pulumi_loop):
    mocks, _, _ = run_program(stack, pulumi_loop, overrides)
    objects = k8s_objects(mocks)
    assert len(objects) > 20
    for obj in objects:
        manifest = {k: v for k, v in obj.inputs.items() if not k.startswith("__")}
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)  # raises on any schema violation


def test_schema_validation_catches_a_bad_object():
    bad = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {"replicas": "three", "selector": {}, "template": {}},
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)


@pytest.mark.parametrize("stack,overrides", VARIANTS)
def test_policies_pass_on_every_resource(stack, overrides, pulumi_loop):
    mocks, _, _ = run_program(stack, pulumi_loop, overrides)
    violations = {r.name: policies.check_resource(r.type, r.inputs) for r in mocks.resources}
    assert {k: v for k, v in violations.items() if v} == {}


def test_production_is_highly_available(pulumi_loop):
    mocks, program, _ = run_program("production", pulumi_loop)
    cfg: StackConfig = program["cfg"]
    assert policies.production_is_highly_available(cfg) == []
    assert mocks.named("job-service-deployment").inputs["spec"]["replicas"] >= 2
    assert mocks.named("job-service-pdb").inputs["spec"]["minAvailable"] == 1
    assert cfg.etcd_members >= 3 and cfg.ceph_replication == 3
    harbor = mocks.named("harbor-release").inputs["values"]
    assert harbor["database"]["type"] == "external" and harbor["redis"]["type"] == "external"


def test_staging_is_not_production_grade(pulumi_loop):
    _, program, _ = run_program("staging", pulumi_loop)
    assert policies.production_is_highly_available(program["cfg"])  # the rule can fail


@pytest.mark.parametrize("stack", STACKS)
def test_secrets_stay_secret(stack, pulumi_loop):
    mocks, program, outputs = run_program(stack, pulumi_loop)
    value, secret = resolve(pulumi_loop, outputs["kubeconfig"])
    assert secret and "kind: Config" in value
    job = program["job_service"]
    for output in (
        job.server_key.string_data,
        job.etcd_secret.string_data,
        job.tls.string_data,
        program["harbor"].release.values,
        program["harbor"].tls.string_data,
    ):
        assert resolve(pulumi_loop, output)[1], output
    # What the engine receives for every Kubernetes Secret carries the secret marker (encrypted in state).
    for secret in mocks.of_type("kubernetes:core/v1:Secret"):
        assert has_secret(secret.raw["stringData"]), secret.name
    # The test secrets reach the objects (so the check above is about real values) ...
    assert (
        mocks.named("harbor-release").inputs["values"]["harborAdminPassword"]
        == SECRETS["harborAdminPassword"]
    )
    # ... and no stack file holds any of them.
    for name in STACKS:
        text = (REPO / "stacks" / f"Pulumi.{name}.yaml").read_text()
        assert not any(key in text for key in SECRETS), name


def test_stacks_pin_identical_versions(pulumi_loop):
    rendered = {}
    for stack in STACKS:
        mocks, _, _ = run_program(stack, pulumi_loop)
        images = {
            c["image"]
            for r in mocks.resources
            for c in (policies.pod_spec(r.type, r.inputs) or {}).get("containers", [])
        }
        charts = {
            (r.inputs["chart"], r.inputs["version"]) for r in mocks.of_type("kubernetes:helm.sh/v3:Release")
        }
        rendered[stack] = (images, charts)
    pins = load_pins()
    for images, charts in rendered.values():
        assert images <= set(pins["images"].values())
        assert charts <= {(c["chart"], c["version"]) for c in pins["charts"].values()}
    raw = {s: yaml.safe_load((REPO / "stacks" / f"Pulumi.{s}.yaml").read_text())["config"] for s in STACKS}
    assert policies.stacks_pin_identical_versions(raw) == []
    group_vars = {
        s: yaml.safe_load((REPO / "stacks" / s / "group_vars" / "all.yml").read_text()) for s in STACKS
    }
    assert policies.inventories_do_not_override_pins(group_vars) == []


def test_missing_key_is_named(pulumi_loop):
    config = stack_config("staging")
    del config["harborHostname"]
    set_config("staging", config)
    with pytest.raises(pulumi.ConfigMissingError, match="gpu-platform:harborHostname"):
        runpy.run_path(str(PROGRAM), run_name="__main__")


def test_even_etcd_count_names_the_key_and_the_fix(pulumi_loop):
    with pytest.raises(StackConfigError, match=r"gpu-platform:etcdMembers is 4.*pulumi config set"):
        run_program("staging", pulumi_loop, {"etcdMembers": 4})


def test_chart_default_harbor_password_is_refused(pulumi_loop):
    with pytest.raises(Exception, match="harborAdminPassword is the Harbor chart's public default"):
        run_program("staging", pulumi_loop, {"harborAdminPassword": "Harbor12345"})


@pytest.mark.parametrize(
    "secret,setting",
    [
        ("harborDatabasePassword", "harborDatabase is external"),
        ("cephUserKey", "storageMode is external-ceph"),
    ],
)
def test_secret_a_setting_needs_is_named(secret, setting, pulumi_loop):
    config = stack_config("production")
    del config[secret]
    set_config("production", config)
    with pytest.raises(StackConfigError, match=rf"gpu-platform:{secret} is not set but {setting}.*--secret"):
        runpy.run_path(str(PROGRAM), run_name="__main__")


@pytest.mark.parametrize(
    "key,reason",
    [
        ("change-me-please-now", "placeholder"),
        (base64.urlsafe_b64encode(bytes(range(40, 64))).decode(), "32 url-safe"),
    ],
)
def test_job_service_key_the_service_would_refuse_is_refused(key, reason, pulumi_loop):
    with pytest.raises(Exception, match=rf"jobServiceServerKey: .*{reason}.*platform_services genkey"):
        run_program("staging", pulumi_loop, {"jobServiceServerKey": key})
