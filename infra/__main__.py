"""`pulumi up` entry point: parse the stack's config once, then compose the components in dependency order
(nodes through Ansible, then the platform on Kubernetes). Logic lives in infra/components/."""

import pulumi
import pulumi_kubernetes as k8s

from infra import config
from infra.components.etcd import EtcdClient, EtcdCluster
from infra.components.gpu import GpuSupport
from infra.components.harbor import Harbor
from infra.components.job_service import JobService
from infra.components.monitoring import Monitoring
from infra.components.nodes import NodeProvisioning
from infra.components.storage import Storage
from infra.components.tenants import Tenants
from platformctl.versions import load_pins

stack = config.load()
cfg, secrets = stack.config, stack.secrets
pins = load_pins()

nodes = NodeProvisioning("nodes", cfg)
# cluster_identifier: a new kubeconfig (rotated certificates) must not replace every resource.
provider = k8s.Provider(
    "cluster",
    kubeconfig=nodes.kubeconfig,
    cluster_identifier=cfg.cluster_name,
    opts=pulumi.ResourceOptions(depends_on=[nodes]),
)
on_cluster = pulumi.ResourceOptions(providers=[provider])

gpu = GpuSupport("gpu", cfg, pins, opts=on_cluster)
storage = Storage("storage", cfg, secrets, pins, opts=on_cluster)
tenants = Tenants("tenants", cfg, opts=on_cluster)
if cfg.etcd_mode == "ansible":
    etcd = EtcdClient("etcd", cfg, after=[nodes], rerun_on=nodes.run_id)
else:
    etcd = EtcdCluster(
        "etcd", cfg, pins, opts=pulumi.ResourceOptions(providers=[provider], depends_on=[storage])
    )
job_service = JobService(
    "job-service",
    cfg,
    pins,
    server_key=secrets.job_service_server_key,
    tls_certificate=secrets.job_service_tls_certificate,
    tls_key=secrets.job_service_tls_key,
    etcd_credentials=etcd.credentials,
    tenant_namespaces=tenants.namespaces,
    opts=on_cluster,
)
harbor = Harbor(
    "harbor", cfg, secrets, pins, opts=pulumi.ResourceOptions(providers=[provider], depends_on=[storage])
)
if cfg.monitoring:
    Monitoring(
        "monitoring", cfg, pins, opts=pulumi.ResourceOptions(providers=[provider], depends_on=[storage])
    )

pulumi.export("clusterName", cfg.cluster_name)
pulumi.export("kubeconfig", nodes.kubeconfig)
pulumi.export("harborUrl", harbor.url)
pulumi.export("jobServiceHost", cfg.job_service_hostname)
pulumi.export("etcdEndpoints", etcd.endpoints)
pulumi.export("tenants", list(cfg.tenants))
pulumi.export("kubernetesVersion", pins["kubernetes_version"])
