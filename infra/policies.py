"""Policy rules, import-safe: plain functions over camelCase resource inputs (what pulumi_policy validators
receive as `args.props`), so tests call them directly and no PolicyPack server is started on import.
Each returns a list of violation messages (empty: compliant).

A policy pack can wrap them, e.g. (pulumi_policy is not installed here; needs the Pulumi CLI):
    ResourceValidationPolicy(name="gpu-limits", validate=lambda args, report: [
        report(m) for m in check_resource(args.resource_type, args.props)])
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

GPU = "nvidia.com/gpu"
WORKLOADS = {"kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet"}
POD_OWNERS = WORKLOADS | {"kubernetes:apps/v1:DaemonSet", "kubernetes:batch/v1:Job", "kubernetes:core/v1:Pod"}
# repository[:port]/path:tag, optionally @sha256:<64 hex>; or repository@sha256:<64 hex>. "latest" is no pin.
_DIGEST = r"@sha256:[0-9a-f]{64}"
_PINNED = re.compile(rf"^[^@\s]+(:(?!latest$)[\w][\w.-]{{0,127}}({_DIGEST})?|{_DIGEST})$")


def pod_spec(resource_type: str, props: dict[str, Any]) -> dict | None:
    if resource_type == "kubernetes:core/v1:Pod":
        return props.get("spec") or {}
    if resource_type in POD_OWNERS:
        return ((props.get("spec") or {}).get("template") or {}).get("spec") or {}
    return None


def containers(spec: dict) -> Iterable[dict]:
    yield from spec.get("initContainers") or []
    yield from spec.get("containers") or []


def image_is_pinned(image: str) -> bool:
    last = image.rsplit("/", 1)[-1]
    return bool(_PINNED.match(image)) and (":" in last or "@" in last)


def gpu_containers_have_limits(resource_type: str, props: dict) -> list[str]:
    spec = pod_spec(resource_type, props)
    out = []
    for c in containers(spec or {}):
        res = c.get("resources") or {}
        requests, limits = res.get("requests") or {}, res.get("limits") or {}
        if GPU in requests or GPU in limits:
            if GPU not in limits:
                out.append(f"container {c.get('name')}: requests {GPU} without a {GPU} limit")
            if "memory" not in limits:
                out.append(f"container {c.get('name')}: GPU container without a memory limit")
    return out


def images_are_pinned(resource_type: str, props: dict) -> list[str]:
    spec = pod_spec(resource_type, props)
    return [
        f"container {c.get('name')}: image {c.get('image')!r} has no pinned tag or digest"
        for c in containers(spec or {})
        if not image_is_pinned(str(c.get("image") or ""))
    ]


def workloads_have_probes_and_requests(resource_type: str, props: dict) -> list[str]:
    if resource_type not in WORKLOADS:
        return []
    out = []
    for c in (pod_spec(resource_type, props) or {}).get("containers") or []:
        for probe in ("readinessProbe", "livenessProbe"):
            if not c.get(probe):
                out.append(f"container {c.get('name')}: no {probe}")
        requests = (c.get("resources") or {}).get("requests") or {}
        if not ("cpu" in requests and "memory" in requests):
            out.append(f"container {c.get('name')}: no cpu and memory requests")
    return out


RESOURCE_RULES = (gpu_containers_have_limits, images_are_pinned, workloads_have_probes_and_requests)


def check_resource(resource_type: str, props: dict) -> list[str]:
    return [msg for rule in RESOURCE_RULES for msg in rule(resource_type, props)]


def production_is_highly_available(config: Any) -> list[str]:
    """Stack-level rule on an infra.config.StackConfig of the production stack."""
    out = []
    if config.etcd_members < 3:
        out.append(f"etcdMembers is {config.etcd_members}: production needs 3 or more")
    if config.job_service_replicas < 2:
        out.append(f"jobServiceReplicas is {config.job_service_replicas}: production needs 2 or more")
    if config.ceph_replication < 3:
        out.append(f"cephReplication is {config.ceph_replication}: production needs 3")
    if config.harbor_database != "external":
        out.append("harborDatabase is internal: production needs an external database and Redis")
    return out


VERSION_KEY = re.compile(r"(version|image|chart|release|branch|tag)", re.IGNORECASE)


def stacks_pin_identical_versions(stack_configs: dict[str, dict[str, Any]]) -> list[str]:
    """Drift check over raw stack files ({stack: config mapping}): versions live only in the pins file, so
    no stack may set a version-like key, and any such key must be equal across stacks."""
    out = []
    names = sorted(stack_configs)
    keys = {k for cfg in stack_configs.values() for k in cfg if VERSION_KEY.search(k.split(":")[-1])}
    for key in sorted(keys):
        values = {name: stack_configs[name].get(key) for name in names}
        if len({repr(v) for v in values.values()}) > 1:
            out.append(f"{key} differs between stacks: {values}")
        else:
            out.append(f"{key} is set per stack; pin it in playbooks/group_vars/all/versions.yml instead")
    return out


def inventories_do_not_override_pins(group_vars: dict[str, dict[str, Any]]) -> list[str]:
    """Drift check over each stack's inventory group_vars ({stack: vars}): a pins_* variable set there would
    lose to the pins file for the playbooks (playbook group_vars win) yet mislead whoever reads it."""
    return [
        f"{stack}: {key} is set in the stack's group_vars; pins live in playbooks/group_vars/all/versions.yml"
        for stack, variables in sorted(group_vars.items())
        for key in sorted(variables or {})
        if key.startswith("pins_")
    ]
