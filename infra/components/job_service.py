"""The job service (platform_services): Deployment (replicas per stack) on the etcd store, Service, Ingress,
ServiceAccount with least-privilege RBAC in tenant namespaces, config and secrets, probes, resources, PDB."""

from __future__ import annotations

import json

import pulumi
import pulumi_kubernetes as k8s

from infra.components.common import RESTRICTED_CONTAINER, child, http_probe, meta, resources, selector
from infra.config import StackConfig

NAME = "job-service"
NAMESPACE = "job-service"
PORT = 8080
ETCD_DIR = "/etc/cloudml/etcd"
# What the service needs in a tenant namespace to run a job's replicas, and nothing more (no secrets, no
# RBAC, no quota changes).
TENANT_RULES = [
    {
        "apiGroups": [""],
        "resources": ["pods", "services", "configmaps"],
        "verbs": ["get", "list", "watch", "create", "delete"],
    },
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "watch", "create", "delete"]},
]


def etcd_secret_data(credentials: dict) -> dict[str, str]:
    """The Secret's files: endpoints.json names ca.crt/client.crt/client.key beside it."""
    endpoints = {
        "endpoints": credentials["endpoints"],
        "ca": f"{ETCD_DIR}/ca.crt",
        "cert": f"{ETCD_DIR}/client.crt",
        "key": f"{ETCD_DIR}/client.key",
    }
    return {
        "endpoints.json": json.dumps(endpoints),
        "ca.crt": credentials["ca"],
        "client.crt": credentials["cert"],
        "client.key": credentials["key"],
    }


class JobService(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        pins: dict,
        *,
        server_key: pulumi.Output[str],
        tls_certificate: pulumi.Output[str],
        tls_key: pulumi.Output[str],
        etcd_credentials: pulumi.Output[dict],
        tenant_namespaces: list[pulumi.Output[str]],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("gpu-platform:job_service:JobService", name, None, opts)
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-ns", metadata=meta(NAMESPACE, None, NAME), opts=child(self)
        )
        ns = self.namespace.metadata.name
        self.account = k8s.core.v1.ServiceAccount(
            f"{name}-sa", metadata=meta(NAME, ns, NAME), opts=child(self)
        )
        self.tenant_role = k8s.rbac.v1.ClusterRole(
            f"{name}-tenant-role",
            metadata=meta("gpu-platform-job-runner", None, NAME),
            rules=TENANT_RULES,
            opts=child(self),
        )
        # Bound per tenant namespace (RoleBinding, not ClusterRoleBinding): no rights anywhere else.
        self.tenant_bindings = [
            k8s.rbac.v1.RoleBinding(
                f"{name}-runner-{i}",
                metadata={"name": "job-service-runner", "namespace": t},
                role_ref={
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": self.tenant_role.metadata.name,
                },
                subjects=[{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}],
                opts=child(self),
            )
            for i, t in enumerate(tenant_namespaces)
        ]
        self.config = k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata=meta(f"{NAME}-config", ns, NAME),
            data={
                "CLOUDML_STORE": "etcd",
                "CLOUDML_ETCD_ENDPOINTS_FILE": f"{ETCD_DIR}/endpoints.json",
                "CLOUDML_ETCD_PREFIX": f"/cloudml/{cfg.cluster_name}",
                "CLOUDML_DATA_DIR": "/var/lib/cloudml",
                # API only: the local backend would run jobs inside this pod; jobs run in tenant namespaces.
                "CLOUDML_RUNNER_ENABLED": "false",
            },
            opts=child(self),
        )
        self.server_key = k8s.core.v1.Secret(
            f"{name}-server-key",
            metadata=meta(f"{NAME}-server-key", ns, NAME),
            string_data={"CLOUDML_SERVER_KEY": server_key},
            opts=child(self),
        )
        self.etcd_secret = k8s.core.v1.Secret(
            f"{name}-etcd",
            metadata=meta(f"{NAME}-etcd", ns, NAME),
            string_data=etcd_credentials.apply(etcd_secret_data),
            opts=child(self),
        )
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment", metadata=meta(NAME, ns, NAME), spec=self._spec(cfg, pins), opts=child(self)
        )
        self.service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=meta(NAME, ns, NAME),
            spec={"selector": selector(NAME), "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
            opts=child(self),
        )
        # Keys are created and rotated through this API (the answer carries the secret key): TLS only.
        self.tls = k8s.core.v1.Secret(
            f"{name}-tls",
            metadata=meta(f"{NAME}-tls", ns, NAME),
            type="kubernetes.io/tls",
            string_data={"tls.crt": tls_certificate, "tls.key": tls_key},
            opts=child(self),
        )
        self.ingress = k8s.networking.v1.Ingress(
            f"{name}-ingress",
            metadata=meta(NAME, ns, NAME, annotations={"nginx.ingress.kubernetes.io/ssl-redirect": "true"}),
            spec={
                "ingressClassName": cfg.ingress_class_name,
                "tls": [{"hosts": [cfg.job_service_hostname], "secretName": f"{NAME}-tls"}],
                "rules": [
                    {
                        "host": cfg.job_service_hostname,
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "pathType": "Prefix",
                                    "backend": {"service": {"name": NAME, "port": {"name": "http"}}},
                                }
                            ]
                        },
                    }
                ],
            },
            opts=child(self, depends_on=[self.tls]),
        )
        self.pdb = k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata=meta(NAME, ns, NAME),
            spec={
                "selector": {"matchLabels": selector(NAME)},
                **({"minAvailable": 1} if cfg.job_service_replicas >= 2 else {"maxUnavailable": 1}),
            },
            opts=child(self),
        )
        self.register_outputs({"namespace": ns, "url": f"https://{cfg.job_service_hostname}"})

    @staticmethod
    def _spec(cfg: StackConfig, pins: dict) -> dict:
        return {
            "replicas": cfg.job_service_replicas,
            "selector": {"matchLabels": selector(NAME)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": {**selector(NAME), "app.kubernetes.io/part-of": "gpu-platform"}},
                "spec": {
                    "serviceAccountName": NAME,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "fsGroup": 10001},
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": selector(NAME)},
                        }
                    ],
                    "containers": [
                        {
                            "name": NAME,
                            "image": pins["images"]["job_service"],
                            "command": [
                                "python",
                                "-m",
                                "platform_services",
                                "serve",
                                "--host",
                                "0.0.0.0",
                                "--port",
                                str(PORT),
                            ],
                            "ports": [{"name": "http", "containerPort": PORT}],
                            "envFrom": [
                                {"configMapRef": {"name": f"{NAME}-config"}},
                                {"secretRef": {"name": f"{NAME}-server-key"}},
                            ],
                            "readinessProbe": http_probe("/readyz", "http"),
                            "livenessProbe": http_probe("/healthz", "http", period=20),
                            "resources": resources("250m", "256Mi", "1Gi"),
                            "securityContext": RESTRICTED_CONTAINER,
                            "volumeMounts": [
                                {"name": "etcd", "mountPath": ETCD_DIR, "readOnly": True},
                                {"name": "data", "mountPath": "/var/lib/cloudml"},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "etcd", "secret": {"secretName": f"{NAME}-etcd", "defaultMode": 0o400}},
                        {"name": "data", "emptyDir": {}},
                    ],
                },
            },
        }
