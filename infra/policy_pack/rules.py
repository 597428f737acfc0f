"""The rules of infra/policies.py as pulumi_policy policies. Importing this constructs no PolicyPack (that
starts the analyzer's server and blocks); __main__.py does, when the Pulumi CLI runs the pack."""

from __future__ import annotations

from collections.abc import Callable

import yaml
from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from infra import policies
from infra.config import REPO_ROOT, from_stack_file

STACKS = ("staging", "production")


def resource_policy(rule: Callable[[str, dict], list[str]], description: str) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        for message in rule(args.resource_type, dict(args.props)):
            report(message)

    return ResourceValidationPolicy(
        name=rule.__name__.replace("_", "-"),
        description=description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


def stack_name(args: StackValidationArgs) -> str | None:
    """The stack of the preview, from any resource's URN (urn:pulumi:<stack>::<project>::...)."""
    for resource in args.resources:
        return resource.urn.split(":", 3)[2] if resource.urn.startswith("urn:pulumi:") else None
    return None


def production_is_highly_available(args: StackValidationArgs, report: ReportViolation) -> None:
    if stack_name(args) == "production":
        for message in policies.production_is_highly_available(from_stack_file("production")):
            report(message)


def versions_pinned_once(args: StackValidationArgs, report: ReportViolation) -> None:
    stack_files = {
        s: yaml.safe_load((REPO_ROOT / "stacks" / f"Pulumi.{s}.yaml").read_text())["config"] for s in STACKS
    }
    group_vars = {
        s: yaml.safe_load((REPO_ROOT / "stacks" / s / "group_vars" / "all.yml").read_text()) for s in STACKS
    }
    for message in policies.stacks_pin_identical_versions(stack_files):
        report(message)
    for message in policies.inventories_do_not_override_pins(group_vars):
        report(message)


POLICIES = [
    resource_policy(
        policies.gpu_containers_have_limits, "Containers that request GPUs set GPU and memory limits."
    ),
    resource_policy(policies.images_are_pinned, "Every container image is pinned by tag or digest."),
    resource_policy(
        policies.workloads_have_probes_and_requests,
        "Deployments and StatefulSets have readiness and liveness probes and CPU and memory requests.",
    ),
    StackValidationPolicy(
        name="production-is-highly-available",
        description="Production: 3+ etcd members, 2+ job service replicas, Ceph replication 3, external DB.",
        validate=production_is_highly_available,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    StackValidationPolicy(
        name="versions-pinned-once",
        description="No stack file or stack group_vars sets a version: the pins file is the one place.",
        validate=versions_pinned_once,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
]
