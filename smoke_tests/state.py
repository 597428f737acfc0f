"""Per-process state of one smoke run (kept in pytest's config.stash): the run being reported, the
inventory and the host pool. The controller reads the inventory; xdist workers receive it as JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from platformctl.stacks import StackError, inventory_path
from smoke_tests import report as rpt
from smoke_tests.hosts import HostPool
from smoke_tests.inventory import EnvironmentProblem, Inventory

MARKER = "smoke"
WORKER_INVENTORY, WORKER_INVENTORY_PATH = "smoke_inventory", "smoke_inventory_path"


@dataclass
class SmokeState:
    run: rpt.Run
    inventory: Inventory | None  # None: the stack cannot be checked (run.problems says why)
    pool: HostPool | None = None

    def host_pool(self) -> HostPool:
        if self.inventory is None:
            raise EnvironmentProblem("no inventory loaded")
        if self.pool is None:
            self.pool = HostPool(self.inventory)
        return self.pool


STATE = pytest.StashKey[SmokeState]()


def state(config: pytest.Config) -> SmokeState:
    if STATE not in config.stash:
        config.stash[STATE] = _load(config)
    return config.stash[STATE]


def _load(config: pytest.Config) -> SmokeState:
    stack = config.getoption("stack")
    workerinput = getattr(config, "workerinput", {})
    if WORKER_INVENTORY in workerinput:  # an xdist worker: the controller already read the inventory
        inventory = Inventory(workerinput[WORKER_INVENTORY_PATH], json.loads(workerinput[WORKER_INVENTORY]))
        return SmokeState(rpt.Run(stack, inventory.path), inventory)
    run = rpt.Run(stack or "-", None)
    try:
        if not stack:
            raise EnvironmentProblem("no stack given: pass --stack NAME (lab, staging, production)")
        explicit = config.getoption("ansible_inventory", None)
        path = Path(explicit).resolve() if explicit else inventory_path(stack)
        run.inventory = str(path)
        return SmokeState(run, Inventory.load(path))
    except (StackError, EnvironmentProblem) as exc:
        run.problems.append(str(exc))
        return SmokeState(run, None)
