"""Harbor: the goharbor/harbor chart, pinned; externalURL from config; TLS from a Secret made of the stack's
secret certificate; admin password and secret key from Pulumi secrets (the chart's public defaults are refused
in infra/config.py); persistence on the Ceph StorageClass; external PostgreSQL and Redis where configured.
Ref: https://github.com/goharbor/harbor-helm/blob/main/values.yaml"""

from __future__ import annotations

import shlex
import sys

import pulumi
import pulumi_command as command
import pulumi_kubernetes as k8s

from infra.components.common import child, meta, pinned_release
from infra.config import REPO_ROOT, Secrets, StackConfig

NAMESPACE = "harbor"
TLS_SECRET = "harbor-tls"


def harbor_values(cfg: StackConfig, admin_password: str, secret_key: str, db_password: str) -> dict:
    pvc = {"storageClass": cfg.storage_class}
    values: dict = {
        "externalURL": f"https://{cfg.harbor_hostname}",
        "expose": {
            "type": "ingress",
            "tls": {"enabled": True, "certSource": "secret", "secret": {"secretName": TLS_SECRET}},
            "ingress": {"hosts": {"core": cfg.harbor_hostname}, "className": cfg.ingress_class_name},
        },
        "harborAdminPassword": admin_password,
        "secretKey": secret_key,
        "persistence": {
            "enabled": True,
            "resourcePolicy": "keep",
            "persistentVolumeClaim": {
                "registry": {**pvc, "size": "500Gi"},
                "jobservice": {"jobLog": pvc},
                "database": pvc,
                "redis": pvc,
                "trivy": pvc,
            },
        },
    }
    if cfg.harbor_database == "external":
        host, _, port = cfg.harbor_redis_address.partition(":")
        values["database"] = {
            "type": "external",
            "external": {
                "host": cfg.harbor_database_host,
                "port": "5432",
                "username": "harbor",
                "password": db_password,
                "coreDatabase": "registry",
                "sslmode": "require",
            },
        }
        values["redis"] = {"type": "external", "external": {"addr": f"{host}:{port or 6379}"}}
    return values


class Harbor(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        secrets: Secrets,
        pins: dict,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("gpu-platform:harbor:Harbor", name, None, opts)
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-ns", metadata=meta(NAMESPACE, None, "harbor"), opts=child(self)
        )
        self.tls = k8s.core.v1.Secret(
            f"{name}-tls",
            metadata=meta(TLS_SECRET, self.namespace.metadata.name, "harbor"),
            type="kubernetes.io/tls",
            string_data={"tls.crt": secrets.harbor_tls_certificate, "tls.key": secrets.harbor_tls_key},
            opts=child(self),
        )
        values = pulumi.Output.all(
            secrets.harbor_admin_password, secrets.harbor_secret_key, secrets.harbor_database_password
        ).apply(lambda s: harbor_values(cfg, *s))
        chart = pins["charts"]["harbor"]
        self.release = pinned_release(
            f"{name}-release",
            chart,
            NAMESPACE,
            pulumi.Output.secret(values),
            self,
            release_name="harbor",
            timeout=900,
            depends_on=[self.tls],
        )
        self.url = f"https://{cfg.harbor_hostname}"
        # A private project per tenant (Harbor's API; the chart has no setting for projects).
        tenants = " ".join(shlex.quote(t) for t in cfg.tenants)
        python = shlex.quote(sys.executable)
        self.projects = command.local.Command(
            f"{name}-projects",
            create=f"{python} -m infra.harbor_projects {shlex.quote(self.url)} {tenants}",
            environment={"HARBOR_PASSWORD": secrets.harbor_admin_password},
            dir=str(REPO_ROOT),
            triggers=list(cfg.tenants),
            opts=child(self, depends_on=[self.release]),
        )
        self.register_outputs({"url": self.url})
