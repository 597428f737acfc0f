"""Make sure Harbor has a private project per tenant, through Harbor's v2.0 API. The Harbor component runs
this as a local command after the chart is up (on create and whenever the tenant list changes), with the admin
password in HARBOR_PASSWORD. Projects are never deleted here (images may still be in use).
Usage: HARBOR_PASSWORD=... python -m infra.harbor_projects URL TENANT..."""

from __future__ import annotations

import os
import sys

import httpx


def ensure_projects(client: httpx.Client, tenants: list[str]) -> list[str]:
    """Create the missing projects; returns the names created."""
    created = []
    for name in tenants:
        found = client.head("/api/v2.0/projects", params={"project_name": name})
        if found.status_code == 200:
            continue
        if found.status_code != 404:
            found.raise_for_status()
        answer = client.post(
            "/api/v2.0/projects", json={"project_name": name, "metadata": {"public": "false"}}
        )
        if answer.status_code != 409:  # 409: created meanwhile
            answer.raise_for_status()
            created.append(name)
    return created


def main(argv: list[str]) -> int:
    if len(argv) < 1 or "HARBOR_PASSWORD" not in os.environ:
        print(__doc__, file=sys.stderr)
        return 2
    url, tenants = argv[0], argv[1:]
    # verify: the CA of the platform's certificate must be trusted by the controller running `pulumi up`.
    with httpx.Client(base_url=url, auth=("admin", os.environ["HARBOR_PASSWORD"]), timeout=30) as client:
        try:
            created = ensure_projects(client, tenants)
        except httpx.HTTPError as exc:
            print(f"harbor projects: {exc}", file=sys.stderr)
            return 1
    print(f"projects created: {', '.join(created) or 'none'}; present: {', '.join(tenants)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
