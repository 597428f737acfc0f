"""Role variables: defaults overlaid by inventory variables, rendered by Ansible's templar."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from platformctl.paths import SMOKE_TESTS_DIR
from smoke_tests.inventory import Inventory
from smoke_tests.rolevars import ROLES_DIR, RoleVarError, RoleVars
from tests.smoke_tests.conftest import LOCAL, write_inventory

DEFAULTS = {
    "demo_dir": "/etc/demo",
    "demo_dropin": "{{ demo_dir }}/conf.d",
    "demo_flag": "yes",
    "demo_enabled": "{{ demo_flag | bool }}",
    "demo_peers": "{{ groups['workers'] }}",
    "demo_fact": "{{ ansible_facts['distribution'] }}",
}


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Inventory, Path]:
    roles = tmp_path / "roles"
    (roles / "demo" / "defaults").mkdir(parents=True)
    (roles / "demo" / "defaults" / "main.yml").write_text(yaml.safe_dump(DEFAULTS))
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "workers.yml").write_text("demo_dir: /opt/demo\n")
    path = write_inventory(
        tmp_path / "inv.yml", {"alpha": dict(LOCAL), "beta": dict(LOCAL)}, {"workers": ["beta"]}
    )
    return Inventory.load(path), roles


def test_defaults_and_inventory_overrides_render(setup):
    inventory, roles = setup
    alpha, beta = (RoleVars("demo", h, inventory, roles_dir=roles) for h in ("alpha", "beta"))
    assert alpha["demo_dropin"] == "/etc/demo/conf.d"
    assert beta["demo_dropin"] == "/opt/demo/conf.d"  # group_vars beside the inventory win over defaults
    assert beta["demo_enabled"] is True
    assert beta["demo_peers"] == ["beta"]


def test_role_constants_win_over_the_inventory_as_in_ansible(setup):
    inventory, roles = setup
    (roles / "demo" / "vars").mkdir()
    (roles / "demo" / "vars" / "main.yml").write_text(
        "demo_dir: /usr/lib/demo\ndemo_cmd: [demo, '{{ demo_dir }}']\n"
    )
    beta = RoleVars("demo", "beta", inventory, roles_dir=roles)  # its group_vars set demo_dir too
    assert beta["demo_dropin"] == "/usr/lib/demo/conf.d" and beta["demo_cmd"] == ["demo", "/usr/lib/demo"]
    assert "demo_cmd" not in beta.declared()  # the interface is the defaults; constants are not settings


def test_the_kubernetes_roles_kubectl_renders(tmp_path):
    path = write_inventory(tmp_path / "inv.yml", {"cp1": dict(LOCAL)}, {"kube_control_plane": ["cp1"]})
    kubectl = RoleVars("kubernetes", "cp1", Inventory.load(path), roles_dir=ROLES_DIR)["kubernetes_kubectl"]
    assert kubectl == ["kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf"]


def test_unrenderable_and_unknown_variables_name_the_variable(setup):
    inventory, roles = setup
    demo = RoleVars("demo", "alpha", inventory, roles_dir=roles)
    with pytest.raises(RoleVarError, match=r"cannot render demo_fact for alpha.*ansible_facts"):
        demo["demo_fact"]
    with pytest.raises(RoleVarError, match="demo_missing is not defined for alpha"):
        demo["demo_missing"]
    with pytest.raises(RoleVarError, match="role 'absent' has no defaults file"):
        RoleVars("absent", "alpha", inventory, roles_dir=roles)


def referenced_role_vars() -> dict[str, set[str]]:
    """role -> role_vars["..."] names the check modules read."""
    found: dict[str, set[str]] = {}
    for module in SMOKE_TESTS_DIR.glob("*/test_*.py"):
        text = module.read_text()
        role = re.search(r'pytest\.mark\.smoke\(.*role="([^"]+)"', text)
        if role:
            found.setdefault(role.group(1), set()).update(re.findall(r'role_vars\["([a-z0-9_]+)"\]', text))
    return found


def test_checks_read_only_declared_role_variables_and_they_render(tmp_path):
    """Drift between the checks and the roles' defaults/main.yml fails here, not in a smoke run."""
    path = write_inventory(tmp_path / "inv.yml", {"node1": dict(LOCAL)}, {"k8s_cluster": ["node1"]})
    inventory = Inventory.load(path)
    used = referenced_role_vars()
    assert used, "no check reads role variables: the pattern above no longer matches the checks"
    for role, names in used.items():
        variables = RoleVars(role, "node1", inventory, roles_dir=ROLES_DIR)
        undeclared = names - set(variables.declared())
        assert not undeclared, f"checks read {sorted(undeclared)} not declared in role {role}'s defaults"
        for name in names:
            assert "{{" not in str(variables[name]), f"{role}.{name} did not render"
