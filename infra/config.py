"""The stack's Pulumi config, parsed once into a typed model.

Keys, types, descriptions and defaults are declared once, in Pulumi.yaml; this module reads those
declarations, so a default is never repeated in Python. Errors name the key and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import yaml

PROJECT = "gpu-platform"
REPO_ROOT = Path(__file__).resolve().parents[1]
PROJECT_FILE = REPO_ROOT / "Pulumi.yaml"

CHOICES = {
    "kubeconfigSource": ("ansible", "existing"),
    "gpuStack": ("device-plugin", "gpu-operator"),
    "migStrategy": ("none", "single", "mixed"),
    "storageMode": ("rook", "external-ceph"),
    "harborDatabase": ("internal", "external"),
    "etcdMode": ("ansible", "in-cluster"),
}
# The harbor-helm chart's published defaults: anyone can read them, so a stack that sets them is refused.
HARBOR_PUBLIC_DEFAULTS = {"Harbor12345", "not-a-secure-key"}
GENKEY = '"$(.venv/bin/python -m platform_services genkey)"'
# Secrets whose declared default is empty but that a stack needs when a setting selects them.
REQUIRED_SECRETS_WHEN = {
    "harborDatabasePassword": ("harbor_database", "external"),
    "cephUserKey": ("storage_mode", "external-ceph"),
}


class StackConfigError(ValueError):
    """A config value is invalid; the message names the key and the fix."""


def declarations(path: Path = PROJECT_FILE) -> dict[str, dict[str, Any]]:
    """Pulumi.yaml's config declarations, keyed by the bare key name (no project prefix)."""
    config = yaml.safe_load(path.read_text())["config"]
    return {key.split(":", 1)[1]: spec for key, spec in config.items()}


def _fix(key: str, value: str, secret: bool = False) -> str:
    return f"fix with `pulumi config set {'--secret ' if secret else ''}{key} {value}`"


@dataclass(frozen=True)
class StackConfig:
    """Plain (non-secret) settings. Secrets are Outputs in `Secrets`, never plain strings."""

    stack: str
    cluster_name: str
    ansible_inventory: str
    ansible_playbook: str
    kubeconfig_source: str
    kubeconfig_path: str
    etcd_members: int
    gpu_stack: str
    mig_strategy: str
    gpu_node_label: str
    storage_mode: str
    ceph_replication: int
    ceph_cluster_id: str
    ceph_monitors: tuple[str, ...]
    ceph_user_id: str
    storage_class: str
    harbor_hostname: str
    harbor_database: str
    harbor_database_host: str
    harbor_redis_address: str
    etcd_mode: str
    etcd_credentials_dir: str
    job_service_replicas: int
    job_service_hostname: str
    ingress_class_name: str
    tenants: tuple[str, ...]
    cluster_network_cidrs: tuple[str, ...]
    tenant_admin_group: str
    tenant_gpu_quota: int
    tenant_cpu_quota: str
    tenant_memory_quota: str
    tenant_pod_quota: int
    monitoring: bool

    def __post_init__(self) -> None:
        if self.etcd_members < 1 or self.etcd_members % 2 == 0:
            raise StackConfigError(
                f"{PROJECT}:etcdMembers is {self.etcd_members}: etcd needs an odd member count "
                f"(3 or 5); {_fix('etcdMembers', '3')}"
            )
        for key, allowed in CHOICES.items():
            value = getattr(self, _snake(key))
            if value not in allowed:
                raise StackConfigError(
                    f"{PROJECT}:{key} is {value!r}: expected one of {', '.join(allowed)}; "
                    f"{_fix(key, allowed[0])}"
                )
        if not self.gpu_node_label or "=" in self.gpu_node_label:
            raise StackConfigError(
                f"{PROJECT}:gpuNodeLabel is {self.gpu_node_label!r}: expected a label key (GPU nodes are "
                "those that have it); "
                f"{_fix('gpuNodeLabel', 'nvidia.com/gpu.count')}"
            )
        if self.kubeconfig_source == "existing" and not self.kubeconfig_path:
            raise StackConfigError(
                f"{PROJECT}:kubeconfigPath is empty but kubeconfigSource is existing; "
                f"{_fix('kubeconfigPath', '~/.kube/<cluster>.conf')}"
            )
        if self.storage_mode == "external-ceph" and not (self.ceph_cluster_id and self.ceph_monitors):
            raise StackConfigError(
                f"{PROJECT}:cephClusterId and cephMonitors are required with storageMode "
                f"external-ceph; {_fix('cephClusterId', '<fsid>')} and "
                "`pulumi config set --path 'cephMonitors[0]' <host>:6789`"
            )
        if self.harbor_database == "external" and not (
            self.harbor_database_host and self.harbor_redis_address
        ):
            raise StackConfigError(
                f"{PROJECT}:harborDatabaseHost and harborRedisAddress are required with "
                f"harborDatabase external; {_fix('harborDatabaseHost', '<postgres host>')}"
            )
        if self.job_service_replicas < 1:
            raise StackConfigError(
                f"{PROJECT}:jobServiceReplicas is {self.job_service_replicas}; "
                f"{_fix('jobServiceReplicas', '2')}"
            )
        for tenant in self.tenants:
            if not _is_dns_label(tenant):
                raise StackConfigError(
                    f"{PROJECT}:tenants has {tenant!r}: a tenant name is a namespace name "
                    "(lower-case letters, digits and '-', at most 63 characters)"
                )

    @property
    def kubeconfig_file(self) -> Path:
        """The kubeconfig the program uses: kubeconfigPath if set (relative to the repository root), else
        where the kubernetes role fetches the admin kubeconfig (kubernetes_kubeconfig_dir/admin.conf, by
        default <inventory dir>/credentials/kubernetes/admin.conf)."""
        if self.kubeconfig_path:
            return REPO_ROOT / Path(self.kubeconfig_path).expanduser()
        return REPO_ROOT / Path(self.ansible_inventory).parent / "credentials" / "kubernetes" / "admin.conf"

    @property
    def etcd_credentials(self) -> Path:
        """Where the etcd role writes the consumer credentials (role etcd, etcd_credentials_dir/client)."""
        if self.etcd_credentials_dir:
            return REPO_ROOT / self.etcd_credentials_dir
        return REPO_ROOT / Path(self.ansible_inventory).parent / "credentials" / "etcd" / "client"


@dataclass(frozen=True)
class Secrets:
    """Every secret setting, as a secret Output (empty string where the stack does not need it)."""

    harbor_admin_password: pulumi.Output[str]
    harbor_secret_key: pulumi.Output[str]
    harbor_tls_certificate: pulumi.Output[str]
    harbor_tls_key: pulumi.Output[str]
    harbor_database_password: pulumi.Output[str]
    ceph_user_key: pulumi.Output[str]
    job_service_server_key: pulumi.Output[str]
    job_service_tls_certificate: pulumi.Output[str]
    job_service_tls_key: pulumi.Output[str]


@dataclass(frozen=True)
class Stack:
    config: StackConfig
    secrets: Secrets


def _snake(key: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in key)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _is_dns_label(name: str) -> bool:
    import re

    return bool(re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", name))


def _coerce(key: str, spec: dict[str, Any], raw: Any) -> Any:
    kind = spec.get("type", "string")
    try:
        if kind == "integer":
            return int(raw)
        if kind == "boolean":
            if isinstance(raw, bool):
                return raw
            if str(raw).lower() not in ("true", "false"):
                raise ValueError(raw)
            return str(raw).lower() == "true"
        if kind == "array":
            value = yaml.safe_load(raw) if isinstance(raw, str) else raw
            if not isinstance(value, list):
                raise ValueError(raw)
            return tuple(value)
    except ValueError as exc:
        raise StackConfigError(
            f"{PROJECT}:{key} is {raw!r}: expected {kind}; {_fix(key, repr(spec.get('default', '...')))}"
        ) from exc
    return str(raw)


def _check_secret(key: str, value: str) -> str:
    if key == "jobServiceServerKey":
        from pydantic import ValidationError

        from platform_services.settings import Settings

        try:  # the service's own rule, so a key it would refuse at start fails `pulumi up` early instead
            Settings(server_key=value)
        except ValidationError as exc:
            reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
            raise StackConfigError(
                f"{PROJECT}:jobServiceServerKey: {reason}; {_fix(key, GENKEY, secret=True)}"
            ) from None
    if value in HARBOR_PUBLIC_DEFAULTS:
        raise StackConfigError(
            f"{PROJECT}:{key} is the Harbor chart's public default; {_fix(key, '<new value>', secret=True)}"
        )
    if key == "harborSecretKey" and len(value) != 16:
        raise StackConfigError(
            f"{PROJECT}:harborSecretKey must be exactly 16 characters (Harbor's AES key); "
            f"{_fix(key, '<16 characters>', secret=True)}"
        )
    return value


def from_stack_file(stack: str) -> StackConfig:
    """The plain settings of stacks/Pulumi.<stack>.yaml over Pulumi.yaml's defaults, without a Pulumi runtime
    and without secrets: what the policy pack checks a stack's settings with."""
    path = REPO_ROOT / "stacks" / f"Pulumi.{stack}.yaml"
    given = {k.split(":", 1)[1]: v for k, v in yaml.safe_load(path.read_text())["config"].items()}
    plain: dict[str, Any] = {"stack": stack}
    for key, spec in declarations().items():
        if spec.get("secret"):
            continue
        if key not in given and "default" not in spec:
            raise StackConfigError(f"{PROJECT}:{key} is missing from {path.name}; {_fix(key, '<value>')}")
        plain[_snake(key)] = _coerce(key, spec, given.get(key, spec.get("default")))
    return StackConfig(**plain)


def load() -> Stack:
    """Read the current stack's config once; missing required keys raise pulumi.ConfigMissingError."""
    config = pulumi.Config()
    plain: dict[str, Any] = {"stack": pulumi.get_stack()}
    secrets: dict[str, pulumi.Output[str]] = {}
    unset_secrets = set()
    for key, spec in declarations().items():
        if spec.get("secret"):
            value = config.get_secret(key)
            if value is None:
                if "default" not in spec:
                    value = config.require_secret(key)  # raises ConfigMissingError naming the key
                else:
                    unset_secrets.add(key)
                    value = pulumi.Output.secret(spec["default"])
            secrets[_snake(key)] = value.apply(lambda v, k=key: _check_secret(k, v))
            continue
        raw = config.get(key)
        if raw is None:
            if "default" not in spec:
                config.require(key)  # raises ConfigMissingError naming the key
            raw = spec["default"]
        plain[_snake(key)] = _coerce(key, spec, raw)
    stack_config = StackConfig(**plain)
    for key, (setting, value) in REQUIRED_SECRETS_WHEN.items():
        if key in unset_secrets and getattr(stack_config, setting) == value:
            raise StackConfigError(
                f"{PROJECT}:{key} is not set but {_camel(setting)} is {value}; "
                f"{_fix(key, '<value>', secret=True)} (infra/README.md says where it comes from)"
            )
    return Stack(stack_config, Secrets(**secrets))
