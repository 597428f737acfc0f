"""Decode the kubeconfig that `ansible -m slurp` fetched (JSON stdout callback) and print it.
Usage: ANSIBLE_LOAD_CALLBACK_PLUGINS=1 ANSIBLE_STDOUT_CALLBACK=json ansible ... -m slurp ... |
python -m infra.kubeconfig"""

from __future__ import annotations

import base64
import json
import sys


def decode_slurp(ansible_json: str) -> str:
    """The first host's slurped file from ansible's json callback output; errors say which host failed."""
    doc = json.loads(ansible_json)
    hosts = doc["plays"][0]["tasks"][0]["hosts"]
    for host, result in hosts.items():
        if result.get("failed") or "content" not in result:
            raise ValueError(f"fetching the kubeconfig from {host} failed: {result.get('msg', result)}")
        return base64.b64decode(result["content"]).decode()
    raise ValueError("no control-plane host answered (inventory group kube_control_plane is empty)")


if __name__ == "__main__":
    try:
        sys.stdout.write(decode_slurp(sys.stdin.read()))
    except (ValueError, KeyError, IndexError) as exc:
        print(f"kubeconfig: {exc}", file=sys.stderr)
        sys.exit(1)
