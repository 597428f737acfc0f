"""A role's variables as Ansible would see them on one host, so checks never repeat a default.

Precedence follows Ansible's for the sources the suite can read: the role's defaults/main.yml, overlaid by
the host's inventory variables (inventory, group_vars/, host_vars/), overlaid by the playbooks' own
group_vars/all/ (the version pins, playbooks/group_vars/all/versions.yml), overlaid by the role's
vars/main.yml (its constants), plus the magic variables inventory_hostname, group_names, groups and
hostvars. Values are rendered with Ansible's own templar, so Jinja references and filters
(`{{ containerd_config_dir }}/conf.d`, `| bool`) resolve as in a play.
Facts are not gathered: a default that needs one raises RoleVarError naming the variable.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from ansible.errors import AnsibleError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from platformctl.paths import PLAYBOOKS_DIR
from smoke_tests.inventory import Inventory

ROLES_DIR = PLAYBOOKS_DIR / "roles"
PLAYBOOK_GROUP_VARS_ALL = PLAYBOOKS_DIR / "group_vars" / "all"


class RoleVarError(LookupError):
    """A role variable is missing or cannot be rendered; the message names the role, host and variable."""


def _variables_file(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text()) or {}
    if not isinstance(loaded, dict):
        raise RoleVarError(f"{path} is not a mapping of variables")
    return loaded


def role_defaults(role: str, roles_dir: Path = ROLES_DIR) -> dict[str, Any]:
    path = roles_dir / role / "defaults" / "main.yml"
    if not path.is_file():
        raise RoleVarError(f"role {role!r} has no defaults file at {path}")
    return _variables_file(path)


def role_constants(role: str, roles_dir: Path = ROLES_DIR) -> dict[str, Any]:
    """The role's vars/main.yml, when it has one: constants that no inventory overrides."""
    path = roles_dir / role / "vars" / "main.yml"
    return _variables_file(path) if path.is_file() else {}


def playbook_group_vars(directory: Path = PLAYBOOK_GROUP_VARS_ALL) -> dict[str, Any]:
    """Variables every playbook under playbooks/ sees for every host (group_vars/all/*.yml beside them)."""
    merged: dict[str, Any] = {}
    for path in sorted(directory.glob("*.yml")) if directory.is_dir() else []:
        merged.update(yaml.safe_load(path.read_text()) or {})
    return merged


class RoleVars(Mapping[str, Any]):
    """Read-only mapping: `role_vars["containerd_socket"]` is the rendered value for this host."""

    def __init__(self, role: str, host: str, inventory: Inventory, roles_dir: Path = ROLES_DIR):
        self.role = role
        self.host = host
        self._defaults = role_defaults(role, roles_dir)
        hostvars = inventory.hostvars(host)
        magic = {
            "inventory_hostname": host,
            "inventory_hostname_short": host.split(".")[0],
            "group_names": inventory.group_names(host),
            "groups": {g: inventory.hosts(g) for g in inventory.groups()},
            "hostvars": {h: inventory.hostvars(h) for h in inventory.hosts()},
            "role_name": role,
        }
        # Role defaults and inventory variables are the trusted template sources Ansible itself renders.
        constants = role_constants(role, roles_dir)
        self._raw = _trusted({**self._defaults, **hostvars, **playbook_group_vars(), **constants, **magic})
        self._templar = Templar(loader=DataLoader(), variables=self._raw)
        self._cache: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._cache:
            if name not in self._raw:
                raise RoleVarError(
                    f"{name} is not defined for {self.host}: declare it in "
                    f"playbooks/roles/{self.role}/defaults/main.yml or the inventory"
                )
            try:
                self._cache[name] = self._templar.template(self._raw[name])
            except AnsibleError as exc:
                raise RoleVarError(
                    f"cannot render {name} for {self.host} (role {self.role}): {exc.message}"
                ) from None
        return self._cache[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def declared(self) -> list[str]:
        """Variables the role's defaults declare (the role's interface)."""
        return list(self._defaults)


def _trusted(value: Any) -> Any:
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, list):
        return [_trusted(item) for item in value]
    if isinstance(value, dict):
        return {key: _trusted(item) for key, item in value.items()}
    return value
