"""infra/policy_pack: the rules of infra/policies.py wrapped as pulumi_policy policies, called the way the
analyzer calls them (no PolicyPack is constructed: that starts its server; the Pulumi engine that would call
them cannot run here)."""

from __future__ import annotations

from dataclasses import replace

import pulumi_policy
from pulumi_policy.policy import PolicyCustomTimeouts, PolicyResource, PolicyResourceOptions

from infra.config import from_stack_file
from infra.policy_pack import rules

DEPLOY = "kubernetes:apps/v1:Deployment"
BARE = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx"}]}}}}


def run(policy, args) -> list[str]:
    messages: list[str] = []
    policy.validate(args, lambda message, urn=None: messages.append(message))
    return messages


def options() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def resource(stack: str, props: dict) -> PolicyResource:
    urn = f"urn:pulumi:{stack}::gpu-platform::{DEPLOY}::app"
    return PolicyResource(DEPLOY, props, urn, "app", options(), None, None, [], {})


def test_every_rule_is_a_policy():
    names = {p.name for p in rules.POLICIES}
    assert names == {
        "gpu-containers-have-limits",
        "images-are-pinned",
        "workloads-have-probes-and-requests",
        "production-is-highly-available",
        "versions-pinned-once",
    }


def test_resource_policies_report_what_the_rules_find():
    by_name = {p.name: p for p in rules.POLICIES}
    args = pulumi_policy.ResourceValidationArgs(DEPLOY, BARE, "urn:x", "app", options(), None)
    assert run(by_name["images-are-pinned"], args) == [
        "container app: image 'nginx' has no pinned tag or digest"
    ]
    assert len(run(by_name["workloads-have-probes-and-requests"], args)) == 3


def test_stack_policies_pass_on_the_committed_stacks_and_fail_on_a_weak_production(monkeypatch):
    by_name = {p.name: p for p in rules.POLICIES}
    for stack in ("staging", "production"):
        args = pulumi_policy.StackValidationArgs([resource(stack, BARE)])
        assert run(by_name["production-is-highly-available"], args) == []
        assert run(by_name["versions-pinned-once"], args) == []
    weak = replace(from_stack_file("production"), etcd_members=1)
    monkeypatch.setattr(rules, "from_stack_file", lambda stack: weak)
    args = pulumi_policy.StackValidationArgs([resource("production", BARE)])
    assert run(by_name["production-is-highly-available"], args) == [
        "etcdMembers is 1: production needs 3 or more"
    ]
