"""Role kubernetes's templates and expressions rendered with Ansible's own templar, from the role's defaults
and the version pins, for a first control plane `cp1` of a three-control-plane inventory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from platformctl.paths import PLAYBOOKS_DIR
from smoke_tests.rolevars import playbook_group_vars

ROLE = PLAYBOOKS_DIR / "roles" / "kubernetes"
GROUPS = {"kube_control_plane": ["cp1", "cp2", "cp3"], "etcd": ["e1", "e2", "e3"], "all": []}
HOSTVARS = {
    name: {"ansible_host": f"10.0.0.{i}"} for i, name in enumerate(["cp1", "cp2", "cp3", "e1", "e2", "e3"], 1)
}
DEBIAN_FACTS = {"os_family": "Debian", "distribution": "Debian", "distribution_major_version": "12"}
REDHAT_FACTS = {"os_family": "RedHat", "distribution": "Rocky", "distribution_major_version": "9"}


def load_yaml(relative: str) -> Any:
    return yaml.safe_load((ROLE / relative).read_text())


def templar(**overrides: Any) -> Templar:
    variables = {
        **load_yaml("defaults/main.yml"),
        **load_yaml("vars/main.yml"),
        **playbook_group_vars(),
        "inventory_hostname": "cp1",
        "inventory_dir": "/repo/stacks/prod",
        "ansible_facts": DEBIAN_FACTS,
        "ansible_host": "10.0.0.1",
        "groups": GROUPS,
        "hostvars": HOSTVARS,
        "ansible_managed": "Ansible managed",
        "ansible_check_mode": False,
        **overrides,
    }
    return Templar(loader=DataLoader(), variables=trusted(variables))


def trusted(value: Any) -> Any:
    """Strings as Ansible trusts those it loads from the role's own files: templates, at any depth."""
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, dict):
        return {key: trusted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [trusted(item) for item in value]
    return value


def render(text: str, **overrides: Any) -> Any:
    return templar(**overrides).template(trust_as_template(text))


def render_template(name: str, **overrides: Any) -> str:
    return render((ROLE / "templates" / name).read_text(), **overrides)


def evaluate(condition: str, **overrides: Any) -> Any:
    """A `when:`/`failed_when:` expression as Ansible evaluates it."""
    return render("{{ " + condition + " }}", **overrides)


def all_tasks(relative: str) -> Iterator[dict[str, Any]]:
    """Every task of tasks/<relative> in file order, blocks and their rescue/always parts included."""

    def walk(tasks: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for entry in tasks:
            yield entry
            for key in ("block", "rescue", "always"):
                yield from walk(entry.get(key) or [])

    yield from walk(load_yaml(f"tasks/{relative}") or [])


def task(relative: str, name: str) -> dict[str, Any]:
    """The task called `name` in tasks/<relative>, searching inside blocks."""
    found = next((entry for entry in all_tasks(relative) if entry.get("name") == name), None)
    assert found, f"no task {name!r} in tasks/{relative}"
    return found


def exists(relative: str) -> bool:
    return Path(ROLE / relative).is_file()
