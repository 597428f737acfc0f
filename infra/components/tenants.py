"""Tenants: a namespace per tenant with ResourceQuota (cpu, memory, GPUs, pods), LimitRange, a default-deny
NetworkPolicy with the allowances training needs, and a RoleBinding for the tenant's admins."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.components.common import child, labels
from infra.config import StackConfig

MONITORING_NAMESPACE = "monitoring"


def _policy(
    name: str, ns: pulumi.Input[str], spec: dict, parent: pulumi.Resource, tenant: str
) -> k8s.networking.v1.NetworkPolicy:
    return k8s.networking.v1.NetworkPolicy(
        f"{tenant}-{name}",
        metadata={"name": name, "namespace": ns, "labels": labels(name, "tenant")},
        spec=spec,
        opts=child(parent),
    )


class Tenant(pulumi.ComponentResource):
    def __init__(self, name: str, cfg: StackConfig, opts: pulumi.ResourceOptions | None = None):
        super().__init__("gpu-platform:tenants:Tenant", name, None, opts)
        self.namespace = k8s.core.v1.Namespace(
            name,
            metadata={
                "name": name,
                "labels": {
                    **labels(name, "tenant"),
                    "gpu-platform/tenant": name,
                    "pod-security.kubernetes.io/enforce": "baseline",
                },
            },
            opts=child(self),
        )
        ns = self.namespace.metadata.name
        self.quota = k8s.core.v1.ResourceQuota(
            f"{name}-quota",
            metadata={"name": "tenant-quota", "namespace": ns},
            spec={
                "hard": {
                    "requests.cpu": cfg.tenant_cpu_quota,
                    "requests.memory": cfg.tenant_memory_quota,
                    "requests.nvidia.com/gpu": str(cfg.tenant_gpu_quota),
                    "pods": str(cfg.tenant_pod_quota),
                }
            },
            opts=child(self),
        )
        # Containers without requests get these, so the quota (which needs requests) never blocks them.
        self.limits = k8s.core.v1.LimitRange(
            f"{name}-limits",
            metadata={"name": "tenant-limits", "namespace": ns},
            spec={
                "limits": [
                    {
                        "type": "Container",
                        "defaultRequest": {"cpu": "500m", "memory": "1Gi"},
                        "default": {"memory": "4Gi"},
                    }
                ]
            },
            opts=child(self),
        )
        self.policies = [
            _policy(
                "default-deny", ns, {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}, self, name
            ),
            # Replicas of one job talk to each other (TF_CONFIG, torch.distributed).
            _policy(
                "allow-same-namespace",
                ns,
                {
                    "podSelector": {},
                    "policyTypes": ["Ingress", "Egress"],
                    "ingress": [{"from": [{"podSelector": {}}]}],
                    "egress": [{"to": [{"podSelector": {}}]}],
                },
                self,
                name,
            ),
            _policy(
                "allow-dns",
                ns,
                {
                    "podSelector": {},
                    "policyTypes": ["Egress"],
                    "egress": [
                        {
                            "to": [
                                {
                                    "namespaceSelector": {
                                        "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                                    }
                                }
                            ],
                            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                        }
                    ],
                },
                self,
                name,
            ),
            # Datasets, checkpoints and models live in the S3 gateway and the registry, outside the cluster.
            _policy(
                "allow-egress-outside-cluster",
                ns,
                {
                    "podSelector": {},
                    "policyTypes": ["Egress"],
                    "egress": [
                        {
                            "to": [
                                {"ipBlock": {"cidr": "0.0.0.0/0", "except": list(cfg.cluster_network_cidrs)}}
                            ]
                        }
                    ],
                },
                self,
                name,
            ),
            _policy(
                "allow-monitoring",
                ns,
                {
                    "podSelector": {},
                    "policyTypes": ["Ingress"],
                    "ingress": [
                        {
                            "from": [
                                {
                                    "namespaceSelector": {
                                        "matchLabels": {"kubernetes.io/metadata.name": MONITORING_NAMESPACE}
                                    }
                                }
                            ]
                        }
                    ],
                },
                self,
                name,
            ),
        ]
        self.admins = k8s.rbac.v1.RoleBinding(
            f"{name}-admins",
            metadata={"name": "tenant-admins", "namespace": ns},
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
            subjects=[
                {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Group",
                    "name": f"{name}{cfg.tenant_admin_group}",
                }
            ],
            opts=child(self),
        )
        self.register_outputs({"namespace": ns})


class Tenants(pulumi.ComponentResource):
    def __init__(self, name: str, cfg: StackConfig, opts: pulumi.ResourceOptions | None = None):
        super().__init__("gpu-platform:tenants:Tenants", name, None, opts)
        self.tenants = [Tenant(tenant, cfg, opts=child(self)) for tenant in cfg.tenants]
        self.namespaces = [t.namespace.metadata.name for t in self.tenants]
        self.register_outputs({"namespaces": self.namespaces})
