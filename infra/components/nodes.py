"""Node provisioning: the stack's Ansible site playbook as a resource (re-run when the inventory, the
playbooks or the pins change; site.yml installs Kubernetes too), then the admin kubeconfig that the playbook's
kubernetes role fetched to the controller, kept secret; or an existing cluster's kubeconfig."""

from __future__ import annotations

import hashlib
import shlex
from pathlib import Path

import pulumi
import pulumi_command as command

from infra import kubeconfig
from infra.components.common import child, repo_relative, venv_tool
from infra.config import PROJECT, REPO_ROOT, StackConfig
from platformctl.versions import PINS_FILE


def tree_hash(*paths: Path) -> str:
    """sha256 over every file's relative path and content, in a stable order (credentials the playbooks
    write, such as the fetched kubeconfig, are outputs, not inputs)."""
    digest = hashlib.sha256()
    for root in paths:
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for path in files:
            if "__pycache__" in path.parts or path.suffix == ".pyc" or "credentials" in path.parts:
                continue
            digest.update(str(path.relative_to(REPO_ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


class NodeProvisioning(pulumi.ComponentResource):
    kubeconfig: pulumi.Output[str]
    # Changes whenever the site playbook ran again: consumers of what it writes on the controller (etcd
    # credentials) re-read then.
    run_id: pulumi.Output[str]

    def __init__(self, name: str, cfg: StackConfig, opts: pulumi.ResourceOptions | None = None):
        super().__init__("gpu-platform:nodes:NodeProvisioning", name, None, opts)
        self.playbook = None
        if cfg.kubeconfig_source == "existing":
            try:  # checked as the fetched one is (infra/kubeconfig.py), before anything is created
                text = kubeconfig.read(cfg.kubeconfig_file)
            except ValueError as exc:
                raise ValueError(f"{PROJECT}:kubeconfigPath: {exc}") from None
            self.kubeconfig = pulumi.Output.secret(text)
            self.run_id = pulumi.Output.from_input("existing")
            self.register_outputs({"kubeconfig": self.kubeconfig})
            return
        inventory = REPO_ROOT / cfg.ansible_inventory
        self.playbook = command.local.Command(
            f"{name}-site-playbook",
            create=(
                f"{venv_tool('ansible-playbook')} -i {shlex.quote(cfg.ansible_inventory)} "
                f"{shlex.quote(cfg.ansible_playbook)}"
            ),
            dir=str(REPO_ROOT),
            triggers=[tree_hash(inventory.parent), tree_hash(REPO_ROOT / "playbooks"), tree_hash(PINS_FILE)],
            # The run's output (kept in the state) may show tokens and keys: encrypted like every secret.
            opts=child(self, additional_secret_outputs=["stdout", "stderr"]),
        )
        self.run_id = self.playbook.id
        # The kubernetes role's kubeconfig.yml fetches /etc/kubernetes/admin.conf from the first control plane
        # to kubernetes_kubeconfig_dir on every run; this reads that copy (no second SSH round).
        self.fetch = command.local.Command(
            f"{name}-read-kubeconfig",
            create=(
                f"{venv_tool('python')} -m infra.kubeconfig {shlex.quote(repo_relative(cfg.kubeconfig_file))}"
            ),
            dir=str(REPO_ROOT),
            triggers=[self.playbook.id],
            opts=child(self, depends_on=[self.playbook], additional_secret_outputs=["stdout"]),
        )
        self.kubeconfig = pulumi.Output.secret(self.fetch.stdout)
        self.register_outputs({"kubeconfig": self.kubeconfig})
