"""Monitoring (optional per stack): kube-prometheus-stack scraping DCGM exporter and the job service.
Ref: https://github.com/prometheus-community/helm-charts/tree/main/charts/kube-prometheus-stack"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import yaml

from infra.components.common import child, meta
from infra.components.etcd import IN_CLUSTER_NAMESPACE as ETCD_NAMESPACE
from infra.components.gpu import NAMESPACE as GPU_NAMESPACE
from infra.components.job_service import NAMESPACE as JOB_NAMESPACE
from infra.components.tenants import MONITORING_NAMESPACE
from infra.config import REPO_ROOT, StackConfig

ETCD_METRICS_PORT = 2381  # role etcd: etcd_metrics_port; in-cluster: infra/components/etcd.py


def _hosts(group: dict) -> dict:
    return (group or {}).get("hosts") or {}


def etcd_metrics_targets(cfg: StackConfig) -> list[str]:
    """host:2381 of each member of the inventory's etcd group (the Ansible-built etcd's metrics listener)."""
    inventory = yaml.safe_load((REPO_ROOT / cfg.ansible_inventory).read_text())["all"]
    members = _hosts((inventory.get("children") or {}).get("etcd"))
    hosts = _hosts(inventory)
    return [f"{(hosts.get(m) or {}).get('ansible_host', m)}:{ETCD_METRICS_PORT}" for m in members]


def scrape_configs(cfg: StackConfig) -> list[dict]:
    def service(job: str, namespace: str, name: str, path: str = "/metrics") -> dict:
        return {
            "job_name": job,
            "metrics_path": path,
            "kubernetes_sd_configs": [{"role": "endpoints", "namespaces": {"names": [namespace]}}],
            "relabel_configs": [
                {"source_labels": ["__meta_kubernetes_service_name"], "regex": name, "action": "keep"}
            ],
        }

    if cfg.etcd_mode == "ansible":
        etcd = {"job_name": "etcd", "static_configs": [{"targets": etcd_metrics_targets(cfg)}]}
    else:  # the in-cluster StatefulSet's headless Service, port "metrics" (plain HTTP, metrics only)
        etcd = service("etcd", ETCD_NAMESPACE, "etcd")
        etcd["relabel_configs"].append(
            {"source_labels": ["__meta_kubernetes_endpoint_port_name"], "regex": "metrics", "action": "keep"}
        )
    return [
        service("dcgm-exporter", GPU_NAMESPACE, "dcgm-exporter"),
        service("job-service", JOB_NAMESPACE, "job-service"),
        etcd,
    ]


class Monitoring(pulumi.ComponentResource):
    def __init__(self, name: str, cfg: StackConfig, pins: dict, opts: pulumi.ResourceOptions | None = None):
        super().__init__("gpu-platform:monitoring:Monitoring", name, None, opts)
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-ns", metadata=meta(MONITORING_NAMESPACE, None, "monitoring"), opts=child(self)
        )
        chart = pins["charts"]["kube_prometheus_stack"]
        self.release = k8s.helm.v3.Release(
            f"{name}-prometheus",
            name="prometheus",
            chart=chart["chart"],
            version=chart["version"],
            namespace=MONITORING_NAMESPACE,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart["repo"]),
            values={
                "prometheus": {
                    "prometheusSpec": {
                        "additionalScrapeConfigs": scrape_configs(cfg),
                        "storageSpec": {
                            "volumeClaimTemplate": {
                                "spec": {
                                    "storageClassName": cfg.storage_class,
                                    "accessModes": ["ReadWriteOnce"],
                                    "resources": {"requests": {"storage": "100Gi"}},
                                }
                            }
                        },
                    }
                },
                "grafana": {"enabled": False},
            },
            opts=child(self, depends_on=[self.namespace]),
        )
        self.register_outputs({"namespace": self.namespace.metadata.name})
