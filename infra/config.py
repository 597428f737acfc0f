"""The stack's Pulumi config, parsed once into a typed model; keys and defaults live in Pulumi.yaml."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi


class StackConfigError(ValueError):
    """A config value is invalid; the message names the key and the fix."""


@dataclass(frozen=True)
class StackConfig:
    cluster_name: str
    ansible_inventory: str
    etcd_members: int

    def __post_init__(self) -> None:
        if self.etcd_members < 1 or self.etcd_members % 2 == 0:
            raise StackConfigError(
                f"gpu-platform:etcdMembers is {self.etcd_members}: etcd needs an odd member count "
                "(3 or 5); fix with `pulumi config set etcdMembers 3`")


def load() -> StackConfig:
    config = pulumi.Config()
    return StackConfig(
        cluster_name=config.require("clusterName"),
        ansible_inventory=config.require("ansibleInventory"),
        etcd_members=config.require_int("etcdMembers"),
    )
