"""Read the etcd role's consumer credentials (endpoints.json, CA, client certificate and key) as one JSON
document on stdout. The etcd component runs this as a local command after the site playbook, so its output
(kept secret) feeds the job service's Secret. Usage: python -m infra.etcd_credentials DIR"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def read(directory: Path) -> dict:
    """{"endpoints": [...], "ca": PEM, "cert": PEM, "key": PEM}; a path in endpoints.json that does not
    exist here is looked for beside it (the same rule as the job service's settings)."""
    doc = json.loads((directory / "endpoints.json").read_text())
    endpoints = doc.get("endpoints") or []
    if not endpoints or not all(str(e).startswith("https://") for e in endpoints):
        raise ValueError(f"{directory}/endpoints.json: expected https:// endpoints, got {endpoints!r}")
    out: dict = {"endpoints": endpoints}
    for field, default in (("ca", "ca.crt"), ("cert", "client.crt"), ("key", "client.key")):
        path = Path(doc.get(field) or default)
        if not path.is_file():
            path = directory / path.name
        out[field] = path.read_text()
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        print(json.dumps(read(Path(argv[0]))))
    except (OSError, ValueError) as exc:
        print(
            f"etcd credentials: {exc} (run the site playbook, or set gpu-platform:etcdCredentialsDir)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
