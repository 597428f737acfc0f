"""etcd for the job service: the Ansible-built cluster's endpoints and client certificate, read from the etcd
role's consumer credentials on the controller after the site playbook ran, exposed as secret outputs that the
job service turns into a Kubernetes Secret."""

from __future__ import annotations

import json
import shlex

import pulumi
import pulumi_command as command

from infra.components.common import child, repo_relative, venv_tool
from infra.config import REPO_ROOT, StackConfig


class EtcdClient(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        after: list[pulumi.Resource] | None = None,
        rerun_on: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        """`rerun_on`: a value that changes whenever the playbook that writes the credentials ran again
        (NodeProvisioning.run_id), so renewed client certificates reach the job service."""
        super().__init__("gpu-platform:etcd:EtcdClient", name, None, opts)
        directory = repo_relative(cfg.etcd_credentials)
        self.reader = command.local.Command(
            f"{name}-read-credentials",
            create=f"{venv_tool('python')} -m infra.etcd_credentials {shlex.quote(directory)}",
            dir=str(REPO_ROOT),
            triggers=[directory, rerun_on or ""],
            opts=child(self, depends_on=after or [], additional_secret_outputs=["stdout"]),
        )
        document = self.reader.stdout.apply(lambda text: json.loads(text or "{}"))
        self.endpoints = document.apply(lambda d: d.get("endpoints", []))
        self.credentials = pulumi.Output.secret(document)
        self.register_outputs({"endpoints": self.endpoints})


IN_CLUSTER_NAMESPACE = "etcd"
SERVICE = "etcd"
CLIENT_PORT, PEER_PORT, METRICS_PORT = 2379, 2380, 2381
TLS_DIR = "/etc/etcd/tls"


def etcd_command(cfg: StackConfig) -> list[str]:
    """etcd flags; each member's name is its pod name, its URLs the headless Service's stable DNS names."""
    peers = ",".join(
        f"{SERVICE}-{i}=https://{SERVICE}-{i}.{SERVICE}.{IN_CLUSTER_NAMESPACE}.svc:{PEER_PORT}"
        for i in range(cfg.etcd_members)
    )
    me = f"$(POD_NAME).{SERVICE}.{IN_CLUSTER_NAMESPACE}.svc"
    return [
        "etcd",
        "--name=$(POD_NAME)",
        "--data-dir=/var/lib/etcd",
        f"--listen-client-urls=https://0.0.0.0:{CLIENT_PORT}",
        f"--advertise-client-urls=https://{me}:{CLIENT_PORT}",
        f"--listen-peer-urls=https://0.0.0.0:{PEER_PORT}",
        f"--initial-advertise-peer-urls=https://{me}:{PEER_PORT}",
        f"--listen-metrics-urls=http://0.0.0.0:{METRICS_PORT}",
        f"--initial-cluster={peers}",
        "--initial-cluster-state=new",
        f"--initial-cluster-token={cfg.cluster_name}-job-service-etcd",
        "--client-cert-auth=true",
        f"--trusted-ca-file={TLS_DIR}/ca.crt",
        f"--cert-file={TLS_DIR}/server.crt",
        f"--key-file={TLS_DIR}/server.key",
        "--peer-client-cert-auth=true",
        f"--peer-trusted-ca-file={TLS_DIR}/ca.crt",
        f"--peer-cert-file={TLS_DIR}/server.crt",
        f"--peer-key-file={TLS_DIR}/server.key",
        "--auto-compaction-mode=periodic",
        "--auto-compaction-retention=1h",
        "--quota-backend-bytes=8589934592",
    ]


class EtcdCluster(pulumi.ComponentResource):
    """In-cluster etcd for the job service: StatefulSet (etcdMembers members) with client and peer mutual TLS,
    a headless and a client Service, a PodDisruptionBudget that keeps quorum."""

    def __init__(self, name: str, cfg: StackConfig, pins: dict, opts: pulumi.ResourceOptions | None = None):
        import pulumi_kubernetes as k8s

        from infra.components.common import http_probe, meta, resources, selector

        super().__init__("gpu-platform:etcd:EtcdCluster", name, None, opts)
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-ns", metadata=meta(IN_CLUSTER_NAMESPACE, None, "etcd"), opts=child(self)
        )
        ns = self.namespace.metadata.name
        # Generated once (create only); the output stays in the stack's state as a secret.
        self.certificates = command.local.Command(
            f"{name}-certificates",
            create=(
                f"{venv_tool('python')} -m infra.etcd_certs {IN_CLUSTER_NAMESPACE} {SERVICE} "
                f"{cfg.etcd_members}"
            ),
            dir=str(REPO_ROOT),
            triggers=[cfg.etcd_members],
            opts=child(self, additional_secret_outputs=["stdout"]),
        )
        pems = pulumi.Output.secret(self.certificates.stdout.apply(lambda text: json.loads(text or "{}")))
        self.tls = k8s.core.v1.Secret(
            f"{name}-tls",
            metadata=meta("etcd-tls", ns, "etcd"),
            string_data=pems.apply(
                lambda p: {k: p.get(k, "") for k in ("ca.crt", "server.crt", "server.key")}
            ),
            opts=child(self),
        )
        ports = [
            {"name": "client", "port": CLIENT_PORT},
            {"name": "peer", "port": PEER_PORT},
            {"name": "metrics", "port": METRICS_PORT},
        ]
        self.headless = k8s.core.v1.Service(
            f"{name}-headless",
            metadata=meta(SERVICE, ns, "etcd"),
            spec={
                "clusterIP": "None",
                "publishNotReadyAddresses": True,
                "selector": selector(SERVICE),
                "ports": ports,
            },
            opts=child(self),
        )
        self.client_service = k8s.core.v1.Service(
            f"{name}-client",
            metadata=meta(f"{SERVICE}-client", ns, "etcd"),
            spec={"selector": selector(SERVICE), "ports": ports[:1]},
            opts=child(self),
        )
        container = {
            "name": "etcd",
            "image": pins["images"]["etcd"],
            "command": etcd_command(cfg),
            "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
            "ports": [
                {"name": "client", "containerPort": CLIENT_PORT},
                {"name": "peer", "containerPort": PEER_PORT},
                {"name": "metrics", "containerPort": METRICS_PORT},
            ],
            # /readyz and /livez on the metrics listener, as kubeadm's etcd manifest probes them.
            "readinessProbe": http_probe("/readyz", "metrics"),
            "livenessProbe": {
                **http_probe("/livez", "metrics", period=20, failures=8),
                "initialDelaySeconds": 15,
            },
            "resources": resources("250m", "512Mi", "2Gi"),
            "volumeMounts": [
                {"name": "data", "mountPath": "/var/lib/etcd"},
                {"name": "tls", "mountPath": TLS_DIR, "readOnly": True},
            ],
        }
        self.statefulset = k8s.apps.v1.StatefulSet(
            f"{name}-statefulset",
            metadata=meta(SERVICE, ns, "etcd"),
            spec={
                "serviceName": SERVICE,
                "replicas": cfg.etcd_members,
                "podManagementPolicy": "Parallel",
                "selector": {"matchLabels": selector(SERVICE)},
                "template": {
                    "metadata": {"labels": selector(SERVICE)},
                    "spec": {
                        "affinity": {
                            "podAntiAffinity": {
                                "requiredDuringSchedulingIgnoredDuringExecution": [
                                    {
                                        "topologyKey": "kubernetes.io/hostname",
                                        "labelSelector": {"matchLabels": selector(SERVICE)},
                                    }
                                ]
                            }
                        },
                        "containers": [container],
                        "volumes": [
                            {"name": "tls", "secret": {"secretName": "etcd-tls", "defaultMode": 0o400}}
                        ],
                    },
                },
                "volumeClaimTemplates": [
                    {
                        "metadata": {"name": "data"},
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "storageClassName": cfg.storage_class,
                            "resources": {"requests": {"storage": "20Gi"}},
                        },
                    }
                ],
            },
            opts=child(self, depends_on=[self.tls, self.headless]),
        )
        self.pdb = k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata=meta(SERVICE, ns, "etcd"),
            spec={"selector": {"matchLabels": selector(SERVICE)}, "minAvailable": cfg.etcd_members // 2 + 1},
            opts=child(self),
        )
        endpoint = f"https://{SERVICE}-client.{IN_CLUSTER_NAMESPACE}.svc:{CLIENT_PORT}"
        self.endpoints = pulumi.Output.from_input([endpoint])
        self.credentials = pems.apply(
            lambda p: {
                "endpoints": [endpoint],
                "ca": p.get("ca.crt", ""),
                "cert": p.get("client.crt", ""),
                "key": p.get("client.key", ""),
            }
        )
        self.register_outputs({"endpoints": self.endpoints})
