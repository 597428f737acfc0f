"""Helpers the components share: labels, metadata, resource requirements, probes."""

from __future__ import annotations

from typing import Any

import pulumi

PART_OF = "gpu-platform"


def labels(name: str, component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "pulumi",
    }


def selector(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name}


def meta(name: str, namespace: str | pulumi.Input[str] | None, component: str, **extra: Any) -> dict:
    out: dict[str, Any] = {"name": name, "labels": labels(name, component), **extra}
    if namespace is not None:
        out["namespace"] = namespace
    return out


def resources(cpu: str, memory: str, memory_limit: str | None = None) -> dict:
    """Requests always; a memory limit always (CPU limits are left off: they throttle without need)."""
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory_limit or memory}}


def http_probe(path: str, port: int | str, period: int = 10, failures: int = 3) -> dict:
    return {
        "httpGet": {"path": path, "port": port},
        "periodSeconds": period,
        "failureThreshold": failures,
        "timeoutSeconds": 2,
    }


RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
}


def child(parent: pulumi.Resource, **kwargs: Any) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(parent=parent, **kwargs)
