"""Read the admin kubeconfig the kubernetes role fetched to the controller, check that it is one, print it.
The nodes component runs this as a local command after the site playbook, so its output (kept secret) feeds
the Kubernetes provider. Usage: python -m infra.kubeconfig FILE"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

HINT = (
    "the kubernetes role fetches it on the first control plane's run (kubernetes_kubeconfig_dir); run the "
    "site playbook with kubernetes_enabled true, or set gpu-platform:kubeconfigPath"
)


def read(path: Path) -> str:
    """The kubeconfig's text; errors say what is wrong with the file and how it gets there."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ValueError(f"{path}: {exc.strerror}; {HINT}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not YAML ({exc})") from None
    if not isinstance(doc, dict) or doc.get("kind") != "Config":
        raise ValueError(f"{path}: not a kubeconfig (expected kind: Config)")
    for section in ("clusters", "users", "contexts"):
        if not doc.get(section):
            raise ValueError(f"{path}: a kubeconfig without {section}")
    return text


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        sys.stdout.write(read(Path(argv[0])))
    except ValueError as exc:
        print(f"kubeconfig: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
