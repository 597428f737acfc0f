"""The Pulumi program under mocks. No Pulumi engine or CLI exists on these machines (see
shared notes), so the program runs against pulumi.runtime mocks: config parsing and exports are real."""

import asyncio
import runpy
from pathlib import Path

import pulumi
import pytest

from infra.config import StackConfig, StackConfigError

PROGRAM = Path(__file__).resolve().parents[2] / "infra" / "__main__.py"


class Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args):
        return [f"{args.name}_id", args.inputs]

    def call(self, args):
        return {}


@pytest.fixture
def pulumi_loop():
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    loop.close()
    asyncio.set_event_loop(None)


def _run_program(config: dict[str, str]) -> dict:
    pulumi.runtime.set_all_config({f"gpu-platform:{k}": v for k, v in config.items()})
    pulumi.runtime.set_mocks(Mocks(), project="gpu-platform", stack="staging", preview=False)
    return runpy.run_path(str(PROGRAM), run_name="__main__")


def test_program_parses_the_staging_config(pulumi_loop):
    program = _run_program({"clusterName": "staging", "ansibleInventory": "stacks/staging/inventory.yml",
                            "etcdMembers": "3"})
    assert program["stack"] == StackConfig("staging", "stacks/staging/inventory.yml", 3)


def test_missing_key_is_named(pulumi_loop):
    with pytest.raises(pulumi.ConfigMissingError, match="gpu-platform:clusterName"):
        _run_program({"ansibleInventory": "x", "etcdMembers": "3"})


def test_even_etcd_count_names_the_key_and_the_fix():
    with pytest.raises(StackConfigError, match=r"gpu-platform:etcdMembers is 4.*pulumi config set"):
        StackConfig("c", "inv", 4)
