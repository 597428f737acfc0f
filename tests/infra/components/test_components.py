"""Each component under mocks (no Pulumi engine here; mocks echo inputs): resources, key inputs, parenting."""

from __future__ import annotations

import json
from dataclasses import replace

import pulumi
import pytest

from infra.components import etcd, gpu, harbor, job_service, monitoring, storage, tenants
from infra.config import Secrets
from infra.etcd_credentials import read as read_etcd
from platformctl.versions import load_pins
from tests.infra.conftest import has_secret, resolve, set_config, settle, stack_config

PINS = load_pins()


MOCKS = {}


@pytest.fixture
def cfg(pulumi_loop):
    """The staging Stack, with mocks set (components need a Pulumi runtime); MOCKS["m"] records inputs."""
    MOCKS["m"] = set_config("staging", stack_config("staging"))
    from infra import config

    return config.load()


def inputs(name: str) -> dict:
    """The camelCase inputs the component gave resource NAME (as a provider would receive them)."""
    return MOCKS["m"].named(name).inputs


def all_children(resource) -> set:
    out = set()
    for c in getattr(resource, "_childResources", set()):
        out |= {c} | all_children(c)
    return out


def check_parented(component, *resources):
    children = all_children(component)
    for r in resources:
        assert r in children, r


def test_gpu_device_plugin_mode(cfg, pulumi_loop):
    c = gpu.GpuSupport("gpu", replace(cfg.config, mig_strategy="mixed"), PINS)
    settle(pulumi_loop)
    spec = inputs("gpu-device-plugin")["spec"]
    env = {e["name"]: e["value"] for e in spec["template"]["spec"]["containers"][0]["env"]}
    assert env["FAIL_ON_INIT_ERROR"] == "true" and env["MIG_STRATEGY"] == "mixed"
    term = spec["template"]["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    assert term["nodeSelectorTerms"][0]["matchExpressions"][0] == {
        "key": "nvidia.com/gpu.count",
        "operator": "Exists",
    }
    assert resolve(pulumi_loop, c.runtime_class.handler)[0] == "nvidia"
    values = resolve(pulumi_loop, c.feature_discovery.values)[0]
    assert values["gfd"]["enabled"] and not values["devicePlugin"]["enabled"]
    assert (
        resolve(pulumi_loop, c.feature_discovery.version)[0]
        == PINS["charts"]["nvidia_device_plugin"]["version"]
    )
    check_parented(c, c.device_plugin, c.runtime_class, c.dcgm_exporter, c.feature_discovery)


def test_gpu_operator_mode_turns_driver_and_toolkit_off(cfg, pulumi_loop):
    c = gpu.GpuSupport("gpu", replace(cfg.config, gpu_stack="gpu-operator"), PINS)
    settle(pulumi_loop)
    values = resolve(pulumi_loop, c.operator.values)[0]
    assert values["driver"]["enabled"] is False and values["toolkit"]["enabled"] is False
    assert not hasattr(c, "device_plugin")


def test_tenant_quota_limits_policies_binding(cfg, pulumi_loop):
    c = tenants.Tenants("tenants", replace(cfg.config, tenants=("a", "b"), tenant_gpu_quota=6))
    settle(pulumi_loop)
    assert len(c.tenants) == 2
    t = c.tenants[0]
    hard = inputs("a-quota")["spec"]["hard"]
    assert hard["requests.nvidia.com/gpu"] == "6" and {"requests.cpu", "requests.memory", "pods"} <= set(hard)
    deny = inputs("a-default-deny")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    subject = inputs("a-admins")["subjects"][0]
    assert subject["name"] == "a-admins"
    check_parented(c, t.namespace, t.quota, t.limits, t.admins, *t.policies)


def test_job_service(cfg, pulumi_loop):
    creds = pulumi.Output.secret({"endpoints": ["https://e:2379"], "ca": "C", "cert": "T", "key": "K"})
    c = job_service.JobService(
        "js",
        replace(cfg.config, job_service_replicas=2),
        PINS,
        server_key=pulumi.Output.secret("k"),
        tls_certificate=pulumi.Output.secret("CRT"),
        tls_key=pulumi.Output.secret("KEY"),
        etcd_credentials=creds,
        tenant_namespaces=[pulumi.Output.from_input("a")],
    )
    settle(pulumi_loop)
    spec = inputs("js-deployment")["spec"]
    assert spec["replicas"] == 2
    container = spec["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    data, secret = resolve(pulumi_loop, c.etcd_secret.string_data)
    assert secret and json.loads(data["endpoints.json"])["endpoints"] == ["https://e:2379"]
    assert inputs("js-pdb")["spec"]["minAvailable"] == 1
    assert inputs("js-ingress")["spec"]["tls"] == [
        {"hosts": [cfg.config.job_service_hostname], "secretName": "job-service-tls"}
    ]
    assert resolve(pulumi_loop, c.tls.string_data) == ({"tls.crt": "CRT", "tls.key": "KEY"}, True)
    # Least privilege: namespaced bindings only, no secrets or RBAC verbs.
    rules = inputs("js-tenant-role")["rules"]
    assert not any("secrets" in r["resources"] or "roles" in r["resources"] for r in rules)
    assert inputs("js-runner-0")["metadata"]["namespace"] == "a"
    check_parented(c, c.deployment, c.service, c.ingress, c.pdb, c.account, c.etcd_secret, *c.tenant_bindings)


def _secrets(**values) -> Secrets:
    fields = Secrets.__dataclass_fields__
    return Secrets(**{k: pulumi.Output.secret(values.get(k, "")) for k in fields})


def test_storage_rook_and_external(cfg, pulumi_loop):
    c = storage.Storage("st", replace(cfg.config, ceph_replication=3), _secrets(), PINS)
    settle(pulumi_loop)
    values = resolve(pulumi_loop, c.cluster.values)[0]
    assert values["cephBlockPools"][0]["spec"]["replicated"]["size"] == 3
    assert values["cephClusterSpec"]["cephVersion"]["image"] == PINS["images"]["ceph"]
    ext = replace(cfg.config, storage_mode="external-ceph", ceph_cluster_id="fsid", ceph_monitors=("m:6789",))
    e = storage.Storage("ext", ext, _secrets(ceph_user_key="KEY"), PINS)
    settle(pulumi_loop)
    values, secret = resolve(pulumi_loop, e.rbd.values)
    assert secret and values["secret"]["userKey"] == "KEY" and values["csiConfig"][0]["clusterID"] == "fsid"
    assert values["secret"]["userID"] == "csi-rbd-provisioner"  # the user the ceph_outputs role writes
    assert values["storageClass"]["name"] == cfg.config.storage_class


def test_harbor(cfg, pulumi_loop):
    ext = replace(
        cfg.config, harbor_database="external", harbor_database_host="db", harbor_redis_address="r:6380"
    )
    c = harbor.Harbor("h", ext, _secrets(harbor_admin_password="pw", harbor_secret_key="k" * 16), PINS)
    settle(pulumi_loop)
    values, secret = resolve(pulumi_loop, c.release.values)
    assert secret and values["externalURL"] == f"https://{cfg.config.harbor_hostname}"
    assert values["expose"]["tls"]["enabled"] and values["harborAdminPassword"] == "pw"
    assert (
        values["persistence"]["persistentVolumeClaim"]["registry"]["storageClass"] == cfg.config.storage_class
    )
    assert values["redis"]["external"]["addr"] == "r:6380"
    assert resolve(pulumi_loop, c.release.version)[0] == PINS["charts"]["harbor"]["version"]


def test_etcd_client_outputs_are_secret(cfg, pulumi_loop):
    c = etcd.EtcdClient("e", cfg.config, rerun_on="playbook-run-1")
    settle(pulumi_loop)
    value, secret = resolve(pulumi_loop, c.credentials)
    assert secret and value["key"] == "KEY-PEM-SECRET"
    # Re-read when the playbook ran again (renewed certificates); the path is the repository-relative one.
    reader = inputs("e-read-credentials")
    assert reader["triggers"] == ["stacks/staging/credentials/etcd/client", "playbook-run-1"]
    assert reader["create"].endswith("-m infra.etcd_credentials stacks/staging/credentials/etcd/client")


def test_etcd_credentials_reader(tmp_path):
    (tmp_path / "endpoints.json").write_text(
        json.dumps(
            {
                "endpoints": ["https://a:2379"],
                "ca": "/controller/only/ca.crt",
                "cert": "client.crt",
                "key": "client.key",
            }
        )
    )
    for name in ("ca.crt", "client.crt", "client.key"):
        (tmp_path / name).write_text(name)
    assert read_etcd(tmp_path) == {
        "endpoints": ["https://a:2379"],
        "ca": "ca.crt",
        "cert": "client.crt",
        "key": "client.key",
    }
    (tmp_path / "endpoints.json").write_text(json.dumps({"endpoints": ["http://a:2379"]}))
    with pytest.raises(ValueError, match="https://"):
        read_etcd(tmp_path)


def test_in_cluster_etcd(cfg, pulumi_loop):
    c = etcd.EtcdCluster("e", replace(cfg.config, etcd_members=5, etcd_mode="in-cluster"), PINS)
    settle(pulumi_loop)
    spec = inputs("e-statefulset")["spec"]
    assert (
        spec["replicas"] == 5 and spec["template"]["spec"]["containers"][0]["image"] == PINS["images"]["etcd"]
    )
    flags = spec["template"]["spec"]["containers"][0]["command"]
    assert "--client-cert-auth=true" in flags and "--peer-client-cert-auth=true" in flags
    assert sum(f.startswith("--initial-cluster=") and f.count("https://") == 5 for f in flags) == 1
    assert inputs("e-pdb")["spec"]["minAvailable"] == 3
    assert inputs("e-certificates")["triggers"] == [5]
    value, secret = resolve(pulumi_loop, c.credentials)
    assert (
        secret
        and value["endpoints"] == ["https://etcd-client.etcd.svc:2379"]
        and value["key"] == "PEM client.key"
    )
    assert resolve(pulumi_loop, c.tls.string_data)[1]
    check_parented(c, c.statefulset, c.headless, c.client_service, c.pdb, c.tls, c.certificates)


def test_etcd_certificates_cover_every_member():
    from cryptography import x509

    from infra.etcd_certs import generate

    pems = generate("etcd", "etcd", 3)
    server = x509.load_pem_x509_certificate(pems["server.crt"].encode())
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    )
    assert {"etcd-0.etcd.etcd.svc", "etcd-2.etcd.etcd.svc", "etcd-client.etcd.svc"} <= set(names)
    ca = x509.load_pem_x509_certificate(pems["ca.crt"].encode())
    server.verify_directly_issued_by(ca)
    x509.load_pem_x509_certificate(pems["client.crt"].encode()).verify_directly_issued_by(ca)


def test_harbor_projects_per_tenant(cfg, pulumi_loop):
    c = harbor.Harbor(
        "h", replace(cfg.config, tenants=("a", "b")), _secrets(harbor_admin_password="pw"), PINS
    )
    settle(pulumi_loop)
    projects = inputs("h-projects")
    assert projects["create"].endswith("-m infra.harbor_projects https://harbor.staging.example.internal a b")
    assert projects["triggers"] == ["a", "b"]
    assert has_secret(MOCKS["m"].named("h-projects").raw["environment"])  # the password stays secret
    check_parented(c, c.projects, c.release, c.tls)


def test_harbor_project_creation_against_a_fake_api():
    import httpx

    from infra.harbor_projects import ensure_projects

    existing, posted = {"a"}, []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"].startswith("Basic ")
        if request.method == "HEAD":
            return httpx.Response(200 if request.url.params["project_name"] in existing else 404)
        body = json.loads(request.content)
        posted.append(body)
        existing.add(body["project_name"])
        return httpx.Response(201)

    client = httpx.Client(base_url="https://h", auth=("admin", "pw"), transport=httpx.MockTransport(handler))
    assert ensure_projects(client, ["a", "b"]) == ["b"]
    assert posted == [{"project_name": "b", "metadata": {"public": "false"}}]
    assert ensure_projects(client, ["a", "b"]) == []  # idempotent


def test_monitoring_scrapes_dcgm_job_service_and_etcd(cfg, pulumi_loop):
    c = monitoring.Monitoring("m", cfg.config, PINS)
    settle(pulumi_loop)
    release = inputs("m-prometheus")
    assert release["version"] == PINS["charts"]["kube_prometheus_stack"]["version"]
    jobs = {
        j["job_name"]: j for j in release["values"]["prometheus"]["prometheusSpec"]["additionalScrapeConfigs"]
    }
    assert set(jobs) == {"dcgm-exporter", "job-service", "etcd"}
    # The staging inventory's etcd members (stg-cp1..3), on the etcd role's metrics port.
    assert jobs["etcd"]["static_configs"][0]["targets"] == [f"198.19.10.1{i}:2381" for i in (1, 2, 3)]
    check_parented(c, c.release, c.namespace)
