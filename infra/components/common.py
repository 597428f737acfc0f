"""Helpers the components share: labels, metadata, resource requirements, probes, pinned Helm releases."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.config import REPO_ROOT

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


def venv_tool(name: str) -> str:
    """A program of the virtualenv this program runs in (python, ansible-playbook), shell-quoted, relative to
    the repository root when it lies inside it. Local commands run in the command provider, whose PATH is the
    Pulumi CLI's, not the activated virtualenv's; and a relative path keeps a command's text equal on every
    checkout, so another operator's `pulumi up` does not see a changed command and re-run it."""
    tool = Path(sys.executable).parent / name
    return shlex.quote(repo_relative(tool))


def repo_relative(path: Path) -> str:
    """PATH relative to the repository root (local commands run there) when inside it, else absolute."""
    absolute = Path(os.path.abspath(path))
    return str(absolute.relative_to(REPO_ROOT)) if absolute.is_relative_to(REPO_ROOT) else str(absolute)


def child(parent: pulumi.Resource, **kwargs: Any) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(parent=parent, **kwargs)


def pinned_release(
    resource_name: str,
    chart: dict,
    namespace: str | pulumi.Input[str],
    values: pulumi.Input[dict],
    parent: pulumi.Resource,
    *,
    release_name: str | None = None,
    timeout: int | None = None,
    **opts: Any,
) -> k8s.helm.v3.Release:
    """A Helm release of a chart pinned in the pins file ({repo, chart, version}); atomic, so a failed
    install or upgrade rolls back instead of leaving a half-applied release."""
    return k8s.helm.v3.Release(
        resource_name,
        name=release_name or resource_name,
        chart=chart["chart"],
        version=chart["version"],
        namespace=namespace,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart["repo"]),
        values=values,
        atomic=True,
        cleanup_on_fail=True,
        timeout=timeout,
        opts=child(parent, **opts),
    )
