"""Pulumi.yaml and the stack files, checked with the rules the Pulumi CLI applies to typed project config
(sdk/go/common/workspace/project.go: arrays declare `items`, defaults match their type, stack values match
the declared type), plus this project's own: every stack key is declared, no secret has a real default,
and no secret sits in a stack file."""

from __future__ import annotations

import re

import pytest
import yaml

from infra.config import declarations
from tests.infra.conftest import REPO

STACKS = ("staging", "production")
DECLARED = declarations()


def matches(kind: str, items: dict | None, value) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "array":
        return isinstance(value, list) and all(matches(items["type"], items.get("items"), v) for v in value)
    return False


@pytest.mark.parametrize("key", sorted(DECLARED))
def test_declaration(key):
    spec = DECLARED[key]
    assert spec.get("description"), key
    assert spec["type"] in ("string", "integer", "boolean", "array"), key
    if spec["type"] == "array":
        assert "items" in spec, f"{key}: an array declares its items"
    if "default" in spec:
        assert matches(spec["type"], spec.get("items"), spec["default"]), key
    if spec.get("secret"):
        assert spec.get("default", "") == "", f"{key}: a secret has no real default"


@pytest.mark.parametrize("stack", STACKS)
def test_stack_file(stack):
    config = yaml.safe_load((REPO / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    for full_key, value in config.items():
        project, key = full_key.split(":", 1)
        assert project == "gpu-platform" and key in DECLARED, f"{full_key} is not declared in Pulumi.yaml"
        spec = DECLARED[key]
        assert not spec.get("secret"), f"{full_key} is a secret: set it with `pulumi config set --secret`"
        assert matches(spec["type"], spec.get("items"), value), f"{full_key}: expected {spec['type']}"
    required = {k for k, s in DECLARED.items() if "default" not in s and not s.get("secret")}
    assert required <= {k.split(":", 1)[1] for k in config}, "a required key is missing from the stack file"


def test_readme_sets_every_secret_the_project_declares():
    """infra/README.md's production walk-through has one `pulumi config set --secret KEY` per secret key of
    Pulumi.yaml, and names no key that is not one."""
    text = (REPO / "infra" / "README.md").read_text()
    documented = re.findall(r"pulumi config set --secret (\w+)", text)
    assert len(documented) == len(set(documented)), "a secret is set twice"
    assert set(documented) == {key for key, spec in DECLARED.items() if spec.get("secret")}
