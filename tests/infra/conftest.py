"""Fixtures for the Pulumi program under mocks. No Pulumi CLI, engine, provider plugin or Kubernetes
API server exists on these machines: pulumi.runtime mocks stand in for the engine and echo each resource's
inputs, so the tests check what the program asks for, not what a cluster does with it."""

from __future__ import annotations

import asyncio
import gc
import json
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from cryptography.fernet import Fernet

REPO = Path(__file__).resolve().parents[2]
PROGRAM = REPO / "infra" / "__main__.py"
KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters: []\n"
ETCD_CREDENTIALS = {
    "endpoints": ["https://198.19.10.11:2379"],
    "ca": "CA-PEM",
    "cert": "CERT-PEM",
    "key": "KEY-PEM-SECRET",
}
ETCD_CERT_FILES = ("ca.crt", "server.crt", "server.key", "client.crt", "client.key")
# Secrets a stack sets with `pulumi config set --secret` (test values; never in the stack files).
SECRETS = {
    "harborAdminPassword": "test-admin-password",
    "harborSecretKey": "0123456789abcdef",
    "harborTlsCertificate": "-----BEGIN CERTIFICATE-----test",
    "harborTlsKey": "-----BEGIN PRIVATE KEY-----test",
    "harborDatabasePassword": "test-db-password",
    "jobServiceServerKey": Fernet.generate_key().decode(),  # the service refuses a malformed key
    "jobServiceTlsCertificate": "-----BEGIN CERTIFICATE-----jobs",
    "jobServiceTlsKey": "-----BEGIN PRIVATE KEY-----jobs",
    "cephUserKey": "test-ceph-key",
}


SECRET_SIG = "4dabf18193072939515e22adb298388d"  # pulumi's marker of a secret value in resource inputs


def unwrap(value: Any) -> Any:
    """Inputs with secret values replaced by the value (the marker is kept apart in `secret_paths`)."""
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return unwrap(value["value"])
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def has_secret(value: Any) -> bool:
    if isinstance(value, dict):
        return SECRET_SIG in value or any(has_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(has_secret(v) for v in value)
    return False


@dataclass
class Recorded:
    type: str
    name: str
    inputs: dict[str, Any]
    raw: dict[str, Any]


@dataclass
class Mocks(pulumi.runtime.Mocks):
    resources: list[Recorded] = field(default_factory=list)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.resources.append(Recorded(args.typ, args.name, unwrap(args.inputs), args.inputs))
        state = dict(args.inputs)
        if args.typ == "command:local:Command":
            create = args.inputs.get("create", "")
            if "etcd_credentials" in create:
                state["stdout"] = json.dumps(ETCD_CREDENTIALS)
            elif "etcd_certs" in create:
                state["stdout"] = json.dumps({name: f"PEM {name}" for name in ETCD_CERT_FILES})
            else:
                state["stdout"] = KUBECONFIG
        if args.typ.startswith("kubernetes:") and "metadata" in state:
            meta = dict(state["metadata"])
            meta.setdefault("name", args.name)
            state["metadata"] = meta
        return [f"{args.name}_id", state]

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}

    def of_type(self, typ: str) -> list[Recorded]:
        return [r for r in self.resources if r.type == typ]

    def named(self, name: str) -> Recorded:
        (found,) = [r for r in self.resources if r.name == name]
        return found


@pytest.fixture
def pulumi_loop():
    """A fresh event loop per test (set_mocks at import time is deprecated and breaks on Python 3.14)."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    loop.close()
    asyncio.set_event_loop(None)
    # A refused program leaves futures holding its exception in reference cycles. Free them here: collected
    # later, inside another test's ast.parse (hypothesis calls it per example), their finalizer logs a
    # traceback, which re-enters ast.parse, and CPython 3.11 before 3.11.8 then raises a spurious SystemError
    # there (python/cpython#106905). It failed the API fuzz test once.
    from pulumi.runtime.settings import SETTINGS

    SETTINGS.rpc_manager.clear()
    SETTINGS.outputs.clear()
    gc.collect()


def stack_config(stack: str) -> dict[str, Any]:
    """The stack file's config (without the project prefix) plus the test secrets."""
    raw = yaml.safe_load((REPO / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    return {**{k.split(":", 1)[1]: v for k, v in raw.items()}, **SECRETS}


def set_config(stack: str, config: dict[str, Any]) -> Mocks:
    def encode(v: Any) -> str:
        return json.dumps(v) if isinstance(v, (list, dict, bool)) else str(v)

    pulumi.runtime.set_all_config(
        {f"gpu-platform:{k}": encode(v) for k, v in config.items()},
        secret_keys=[f"gpu-platform:{k}" for k in SECRETS],
    )
    from pulumi.runtime.settings import SETTINGS

    SETTINGS.rpc_manager.clear()  # nothing of an earlier test's (closed) loop may leak into this one
    SETTINGS.outputs.clear()
    mocks = Mocks()
    pulumi.runtime.set_mocks(mocks, project="gpu-platform", stack=stack, preview=False)
    return mocks


def run_program(stack: str, loop: asyncio.AbstractEventLoop, overrides: dict | None = None):
    """Run infra/__main__.py under mocks for a stack; returns (mocks, program globals, stack outputs)."""
    mocks = set_config(stack, {**stack_config(stack), **(overrides or {})})
    outputs: dict[str, Any] = {}
    original = pulumi.export
    pulumi.export = lambda name, value: outputs.__setitem__(name, value)  # collect exports as Outputs
    try:
        program = runpy.run_path(str(PROGRAM), run_name="__main__")
    finally:
        pulumi.export = original
    settle(loop)
    return mocks, program, outputs


def settle(loop: asyncio.AbstractEventLoop) -> None:
    """Let every pending resource registration and apply finish."""
    from pulumi.runtime.stack import wait_for_rpcs

    loop.run_until_complete(wait_for_rpcs())


def resolve(loop: asyncio.AbstractEventLoop, output: Any) -> tuple[Any, bool]:
    """(value, is_secret) of an Output."""

    async def get():
        return await output.future(), await output.is_secret()

    return loop.run_until_complete(get())
