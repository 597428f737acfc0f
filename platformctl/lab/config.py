"""Identity, addresses and on-disk locations of one lab, derived once and stored in its state file.

Two labs (a developer's checkout and a CI clone) coexist: each checkout gets its own lab id, its own
/24 in 198.18.0.0/15, and interface and namespace names that carry the lab's index.
"""

from __future__ import annotations

import fcntl
import hashlib
import ipaddress
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from platformctl.lab.shell import LabError
from platformctl.paths import REPO_ROOT

# Host-wide locations shared by every lab on the machine.
STATE_ROOT = Path(os.environ.get("PLATFORM_LAB_STATE_ROOT", "/var/lib/platformctl/labs"))
CACHE_ROOT = Path(os.environ.get("PLATFORM_LAB_CACHE_ROOT", "/var/cache/platformctl"))

# The benchmarking range RFC 2544 reserves; labs never use private or public ranges.
LAB_SUPERNET = ipaddress.ip_network("198.18.0.0/15")
MAX_LAB_INDEX = 254  # 198.18.<index>.0/24, index 1..254
NODE_ADDRESS_OFFSET = 10  # node1 is .11, node2 .12, ...
MAX_NODES = 9
DEFAULT_NODES = 3


def default_lab_id(repo_root: Path = REPO_ROOT, honour_env: bool = True) -> str:
    """One lab per checkout unless PLATFORM_LAB_ID names another."""
    explicit = os.environ.get("PLATFORM_LAB_ID")
    if explicit and honour_env:
        return explicit
    digest = hashlib.sha1(str(repo_root.resolve()).encode()).hexdigest()[:6]
    return f"lab-{digest}"


@dataclass(frozen=True)
class LabConfig:
    """Everything that names or addresses one lab; persisted as lab.json in its state directory."""

    lab_id: str
    index: int
    nodes: int
    repo_root: str

    @property
    def state_dir(self) -> Path:
        return STATE_ROOT / self.lab_id

    @property
    def inventory_path(self) -> Path:
        """stacks/lab/inventory.yml for the checkout's own lab; a named lab gets inventory.<id>.yml beside
        it, so both share the stack's group_vars."""
        stack_dir = Path(self.repo_root) / "stacks" / "lab"
        if self.lab_id == default_lab_id(Path(self.repo_root), honour_env=False):
            return stack_dir / "inventory.yml"
        return stack_dir / f"inventory.{self.lab_id}.yml"

    @property
    def credentials_dir(self) -> Path:
        """Where the playbooks keep this lab's generated secrets (CA keys, client certificates, S3 keys)."""
        return Path(self.repo_root) / "stacks" / "lab" / "credentials" / self.lab_id

    @property
    def subnet(self) -> ipaddress.IPv4Network:
        return ipaddress.ip_network(f"198.18.{self.index}.0/24")

    @property
    def gateway(self) -> str:
        return f"198.18.{self.index}.1"

    @property
    def bridge(self) -> str:
        return f"plab{self.index}br"

    @property
    def nat_comment(self) -> str:
        return f"platformctl-{self.lab_id}"

    def node_names(self) -> list[str]:
        return [f"node{i}" for i in range(1, self.nodes + 1)]

    def node_number(self, node: str) -> int:
        if node not in self.node_names():
            raise LabError(f"no node {node!r} in lab {self.lab_id} (nodes: {', '.join(self.node_names())})")
        return int(node.removeprefix("node"))

    def node_ip(self, node: str) -> str:
        return f"198.18.{self.index}.{NODE_ADDRESS_OFFSET + self.node_number(node)}"

    def netns(self, node: str) -> str:
        return f"plab{self.index}-{node}"

    def host_veth(self, node: str) -> str:
        return f"plab{self.index}v{self.node_number(node)}"

    def peer_veth(self, node: str) -> str:
        return f"plab{self.index}p{self.node_number(node)}"

    def machine_name(self, node: str) -> str:
        return f"{self.lab_id}-{node}"

    def node_dir(self, node: str) -> Path:
        return self.state_dir / "nodes" / node

    @property
    def ssh_key(self) -> Path:
        return self.state_dir / "ssh" / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.state_dir / "ssh" / "known_hosts"

    def save(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "lab.json").write_text(json.dumps(asdict(self), indent=2) + "\n")


def load(lab_id: str) -> LabConfig | None:
    path = STATE_ROOT / lab_id / "lab.json"
    if not path.exists():
        return None
    return LabConfig(**json.loads(path.read_text()))


def all_labs() -> list[LabConfig]:
    if not STATE_ROOT.exists():
        return []
    found = (load(p.name) for p in sorted(STATE_ROOT.iterdir()) if p.is_dir())
    return [lab for lab in found if lab is not None]


@contextmanager
def host_lock() -> Iterator[None]:
    """Serialize allocation of lab indexes (and host-wide NAT setup) between concurrent labs."""
    STATE_ROOT.mkdir(parents=True, exist_ok=True)
    with open(STATE_ROOT.parent / "labs.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def allocate(lab_id: str, nodes: int) -> LabConfig:
    """Return the lab's stored config, or allocate a free /24 for a new lab (caller holds host_lock)."""
    if not 1 <= nodes <= MAX_NODES:
        raise LabError(f"--nodes must be between 1 and {MAX_NODES}, got {nodes}")
    existing = load(lab_id)
    if existing is not None:
        if existing.nodes != nodes:
            existing = LabConfig(existing.lab_id, existing.index, nodes, existing.repo_root)
        return existing
    used = {lab.index for lab in all_labs()}
    free = next((i for i in range(1, MAX_LAB_INDEX + 1) if i not in used), None)
    if free is None:
        raise LabError("every lab subnet in 198.18.0.0/15 is taken: run `platformctl lab down` on old labs")
    return LabConfig(lab_id=lab_id, index=free, nodes=nodes, repo_root=str(REPO_ROOT))
