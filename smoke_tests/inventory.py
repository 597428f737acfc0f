"""The stack's Ansible inventory as the smoke suite sees it: hosts, groups and each host's variables.

It is read once per run with `ansible-inventory --list` (so group_vars/ and host_vars/ beside the inventory
apply exactly as they do for the playbooks) and handed to xdist workers as JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from platformctl.paths import REPO_ROOT

ALL = "all"


class EnvironmentProblem(Exception):
    """The stack cannot be checked at all (bad stack, unreadable inventory, missing tool): exit code 2."""


def ensure_ansible_on_path() -> None:
    """testinfra's Ansible backend shells out to `ansible-inventory`; prefer this interpreter's copy.

    The repository's ansible.cfg applies unless the caller chose another with ANSIBLE_CONFIG.
    """
    bindir = str(Path(sys.executable).parent)
    if (Path(bindir) / "ansible-inventory").exists() and bindir not in os.environ.get("PATH", "").split(":"):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    os.environ.setdefault("ANSIBLE_CONFIG", str(REPO_ROOT / "ansible.cfg"))
    if shutil.which("ansible-inventory") is None:
        raise EnvironmentProblem(
            "ansible-inventory is not on PATH: run from the project's virtualenv (.venv/bin first on PATH)"
        )


@dataclass(frozen=True)
class Inventory:
    """`ansible-inventory --list` output, with the group arithmetic the suite needs."""

    path: str
    data: dict[str, Any]

    @classmethod
    def load(cls, path: Path) -> Inventory:
        if not path.is_file():
            raise EnvironmentProblem(f"inventory {path} does not exist")
        ensure_ansible_on_path()
        proc = subprocess.run(
            ["ansible-inventory", "-i", str(path), "--list"],
            capture_output=True,
            text=True,
            env={**os.environ, "ANSIBLE_VERBOSITY": "0"},
            check=False,
        )
        if proc.returncode != 0:
            raise EnvironmentProblem(
                f"ansible-inventory could not read {path}: "
                f"{_last_line(proc.stderr) or f'exit {proc.returncode}'}"
            )
        try:
            data = json.loads(proc.stdout)
        except json.JSONDecodeError as exc:
            raise EnvironmentProblem(f"ansible-inventory printed no JSON for {path}: {exc}") from exc
        inventory = cls(str(path), data)
        if not inventory.hosts():
            # Ansible only warns about an inventory it could not parse and then lists no hosts.
            raise EnvironmentProblem(f"inventory {path} lists no hosts: {_last_line(proc.stderr) or 'empty'}")
        return inventory

    def groups(self) -> list[str]:
        return sorted(name for name in self.data if name != "_meta")

    def hosts(self, group: str = ALL) -> list[str]:
        """Hosts of `group` and of its child groups, sorted; an unknown group has none."""
        found: set[str] = set()
        pending, seen = [group], set()
        while pending:
            name = pending.pop()
            if name in seen:
                continue
            seen.add(name)
            entry = self.data.get(name, {})
            found.update(entry.get("hosts", []))
            pending.extend(entry.get("children", []))
        return sorted(found)

    def hostvars(self, host: str) -> dict[str, Any]:
        return dict(self.data.get("_meta", {}).get("hostvars", {}).get(host, {}))

    def group_names(self, host: str) -> list[str]:
        return [g for g in self.groups() if g != ALL and host in self.hosts(g)]


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""
