"""infra/components/nodes.py: the site playbook as a resource, then the kubeconfig the kubernetes role fetched
(checked against the role's own variables), and infra/kubeconfig.py, the reader the component runs."""

from __future__ import annotations

import subprocess
from dataclasses import replace

import jinja2
import pytest
import yaml

from infra import kubeconfig
from infra.components import nodes
from tests.infra.conftest import REPO, resolve, set_config, settle, stack_config

ROLE = REPO / "playbooks" / "roles" / "kubernetes"
KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: staging, cluster: {server: "https://198.19.10.11:6443"}}]
users: [{name: admin, user: {token: x}}]
contexts: [{name: admin@staging, context: {cluster: staging, user: admin}}]
current-context: admin@staging
"""


@pytest.fixture
def staging(pulumi_loop):
    set_config("staging", stack_config("staging"))
    from infra import config

    return config.load().config


def test_runs_the_site_playbook_with_content_triggers(staging, pulumi_loop):
    c = nodes.NodeProvisioning("n", staging)
    settle(pulumi_loop)
    create = resolve(pulumi_loop, c.playbook.create)[0]
    # Repository-relative paths (the command runs there): the same text on every checkout.
    assert create == ".venv/bin/ansible-playbook -i stacks/staging/inventory.yml playbooks/site.yml"
    assert resolve(pulumi_loop, c.playbook.dir)[0] == str(REPO)
    triggers = resolve(pulumi_loop, c.playbook.triggers)[0]
    assert len(triggers) == 3 and all(len(t) == 64 for t in triggers)
    assert resolve(pulumi_loop, c.kubeconfig)[1]
    read = resolve(pulumi_loop, c.fetch.create)[0]
    assert read == ".venv/bin/python -m infra.kubeconfig stacks/staging/credentials/kubernetes/admin.conf"
    assert resolve(pulumi_loop, c.fetch.triggers)[0] == [resolve(pulumi_loop, c.playbook.id)[0]]


def test_site_playbook_installs_kubernetes():
    """The kubeconfig exists only if the playbook the component runs reaches the kubernetes role."""
    imported = [
        p["ansible.builtin.import_playbook"]
        for p in yaml.safe_load((REPO / "playbooks/site.yml").read_text())
    ]
    assert "kubernetes.yml" in imported
    plays = yaml.safe_load((REPO / "playbooks/kubernetes.yml").read_text())
    assert any(p["hosts"] == "kube_control_plane" and "kubernetes" in str(p["roles"]) for p in plays)


def test_reads_where_the_kubernetes_role_fetches_the_kubeconfig(staging):
    """The role's fetch task (tasks/kubeconfig.yml) writes kubernetes_kubeconfig_dir/admin.conf, rendered here
    with the stack's inventory_dir as Ansible would: it must be the file the component reads."""
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    (fetch,) = [
        t
        for t in yaml.safe_load((ROLE / "tasks" / "kubeconfig.yml").read_text())
        if "ansible.builtin.fetch" in t
    ]
    args = fetch["ansible.builtin.fetch"]
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    role_vars = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    assert (
        env.from_string(args["src"]).render(role_vars) == "/etc/kubernetes/admin.conf"
        and args["flat"] is True
    )
    inventory_dir = str(REPO / "stacks" / "staging")
    directory = env.from_string(defaults["kubernetes_kubeconfig_dir"]).render(inventory_dir=inventory_dir)
    dest = env.from_string(args["dest"]).render(kubernetes_kubeconfig_dir=directory)
    assert dest == str(staging.kubeconfig_file)


def test_read_command_prints_the_kubeconfig(staging, pulumi_loop, tmp_path):
    """The command the component runs, run for real (kubeconfigPath points at a test file)."""
    path = tmp_path / "admin.conf"
    path.write_text(KUBECONFIG)
    c = nodes.NodeProvisioning("n", replace(staging, kubeconfig_path=str(path)))
    settle(pulumi_loop)
    create = resolve(pulumi_loop, c.fetch.create)[0]
    done = subprocess.run(create, shell=True, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == KUBECONFIG
    path.unlink()
    done = subprocess.run(create, shell=True, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "kubernetes_enabled true" in done.stderr and done.stdout == ""


def test_reader_refuses_what_is_not_a_kubeconfig(tmp_path):
    path = tmp_path / "admin.conf"
    path.write_text("kind: Config\nclusters: []\n")
    with pytest.raises(ValueError, match="without clusters"):
        kubeconfig.read(path)
    path.write_text("<html>502</html>\n")
    with pytest.raises(ValueError, match="not a kubeconfig"):
        kubeconfig.read(path)
    with pytest.raises(ValueError, match=r"No such file.*kubernetes_kubeconfig_dir"):
        kubeconfig.read(tmp_path / "missing.conf")


def test_existing_kubeconfig(staging, pulumi_loop, tmp_path):
    path = tmp_path / "kc"
    path.write_text(KUBECONFIG)
    c = nodes.NodeProvisioning("n", replace(staging, kubeconfig_source="existing", kubeconfig_path=str(path)))
    assert c.playbook is None
    assert resolve(pulumi_loop, c.kubeconfig) == (KUBECONFIG, True)


def test_an_existing_kubeconfig_is_checked_like_a_fetched_one(staging, tmp_path):
    path = tmp_path / "kc"
    path.write_text("<html>502 Bad Gateway</html>\n")  # saved from a proxy's error page, say
    existing = replace(staging, kubeconfig_source="existing", kubeconfig_path=str(path))
    with pytest.raises(ValueError, match=r"gpu-platform:kubeconfigPath: .*not a kubeconfig"):
        nodes.NodeProvisioning("n", existing)
    with pytest.raises(ValueError, match=r"gpu-platform:kubeconfigPath: .*No such file"):
        nodes.NodeProvisioning("m", replace(existing, kubeconfig_path=str(tmp_path / "missing")))
