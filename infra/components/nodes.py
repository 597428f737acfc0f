"""Node provisioning: the stack's Ansible site playbook as a resource (re-run when the inventory, the
playbooks or the pins change), then the kubeconfig fetched from the first control-plane host and kept
secret; or an existing cluster's kubeconfig."""

from __future__ import annotations

import hashlib
import shlex
import sys
from pathlib import Path

import pulumi
import pulumi_command as command

from infra.components.common import child
from infra.config import REPO_ROOT, StackConfig

PINS = REPO_ROOT / "playbooks" / "group_vars" / "all" / "versions.yml"


def tree_hash(*paths: Path) -> str:
    """sha256 over every file's relative path and content, in a stable order."""
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

    def __init__(self, name: str, cfg: StackConfig, opts: pulumi.ResourceOptions | None = None):
        super().__init__("gpu-platform:nodes:NodeProvisioning", name, None, opts)
        inventory = REPO_ROOT / cfg.ansible_inventory
        self.playbook = None
        if cfg.kubeconfig_source == "existing":
            text = Path(cfg.kubeconfig_path).expanduser().read_text()
            self.kubeconfig = pulumi.Output.secret(text)
            self.register_outputs({"kubeconfig": self.kubeconfig})
            return
        inv = shlex.quote(str(inventory))
        self.playbook = command.local.Command(
            f"{name}-site-playbook",
            create=f"ansible-playbook -i {inv} {shlex.quote(cfg.ansible_playbook)}",
            dir=str(REPO_ROOT),
            triggers=[tree_hash(inventory.parent), tree_hash(REPO_ROOT / "playbooks"), tree_hash(PINS)],
            opts=child(self),
        )
        self.fetch = command.local.Command(
            f"{name}-fetch-kubeconfig",
            create=(
                f"ansible 'kube_control_plane[0]' -i {inv} -b -m ansible.builtin.slurp "
                f"-a src=/etc/kubernetes/admin.conf | {shlex.quote(sys.executable)} -m infra.kubeconfig"
            ),
            environment={"ANSIBLE_LOAD_CALLBACK_PLUGINS": "1", "ANSIBLE_STDOUT_CALLBACK": "json"},
            dir=str(REPO_ROOT),
            triggers=[self.playbook.id],
            opts=child(self, depends_on=[self.playbook], additional_secret_outputs=["stdout"]),
        )
        self.kubeconfig = pulumi.Output.secret(self.fetch.stdout)
        self.register_outputs({"kubeconfig": self.kubeconfig})
