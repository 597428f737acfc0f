"""Create orgs and access keys, disable and rotate keys. Secret keys are returned once, at creation."""

import re
import secrets
import string
import time
from dataclasses import dataclass

from platform_services.errors import ApiError, not_found
from platform_services.quotas.model import default_limits
from platform_services.store import Compare, Put, Store
from platform_services.tenancy.crypto import SecretBox

ORG_ID = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
ROLES = ("user", "admin")
_AK_ALPHABET = string.ascii_uppercase + string.digits


@dataclass(frozen=True)
class Principal:
    """Who signed the request."""

    access_key: str
    org_id: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def key_view(value: dict) -> dict:
    """A key as the API shows it: never the secret."""
    return {k: value[k] for k in ("access_key", "org_id", "role", "enabled", "galaxy_v3", "created_at")}


class Tenancy:
    def __init__(self, store: Store, box: SecretBox):
        self.store = store
        self.box = box

    def create_org(self, org_id: str, quota: dict | None = None) -> dict:
        if not ORG_ID.match(org_id):
            raise ApiError(400, "InvalidOrgId", "org_id must be a DNS-1123 label (a-z, 0-9, '-')", "org_id")
        from platform_services.quotas.model import parse_limits

        limits = default_limits()
        limits.update(parse_limits(quota or {}))
        org = {"org_id": org_id, "created_at": int(time.time())}
        ledger = {"limits": limits, "admitted": {}, "queue": []}
        ok = self.store.commit(
            [Compare(f"/orgs/{org_id}", 0)],
            [Put(f"/orgs/{org_id}", org), Put(f"/ledger/{org_id}", ledger)],
        )
        if not ok:
            raise ApiError(409, "AlreadyExists", f"org {org_id!r} already exists", "org_id")
        return org

    def list_orgs(self) -> list[dict]:
        return [item.value for item in self.store.list("/orgs/")]

    def create_key(self, org_id: str, role: str = "user", galaxy_v3: bool = False) -> dict:
        """Returns the key with its secret: the only time the secret leaves the server."""
        if role not in ROLES:
            raise ApiError(400, "InvalidRole", f"role must be one of {', '.join(ROLES)}", "role")
        if self.store.get(f"/orgs/{org_id}") is None:
            raise not_found("org", org_id)
        access_key = "AK" + "".join(secrets.choice(_AK_ALPHABET) for _ in range(18))
        secret = secrets.token_urlsafe(30)
        value = {
            "access_key": access_key,
            "org_id": org_id,
            "role": role,
            "enabled": True,
            "galaxy_v3": galaxy_v3,
            "created_at": int(time.time()),
            "secret": self.box.seal(secret),
        }
        if not self.store.commit([Compare(f"/keys/{access_key}", 0)], [Put(f"/keys/{access_key}", value)]):
            raise ApiError(409, "Conflict", "access key collision, retry")
        return {**key_view(value), "secret_key": secret}

    def list_keys(self, org_id: str | None = None) -> list[dict]:
        keys = [key_view(item.value) for item in self.store.list("/keys/")]
        return [k for k in keys if org_id is None or k["org_id"] == org_id]

    def update_key(
        self,
        access_key: str,
        *,
        enabled: bool | None = None,
        galaxy_v3: bool | None = None,
        rotate: bool = False,
    ) -> dict:
        for _ in range(20):
            item = self.store.get(f"/keys/{access_key}")
            if item is None:
                raise not_found("access key", access_key)
            value = dict(item.value)
            if enabled is not None:
                value["enabled"] = enabled
            if galaxy_v3 is not None:
                value["galaxy_v3"] = galaxy_v3
            secret = None
            if rotate:
                secret = secrets.token_urlsafe(30)
                value["secret"] = self.box.seal(secret)
            if self.store.commit([Compare(item.key, item.mod_revision)], [Put(item.key, value)]):
                view = key_view(value)
                return {**view, "secret_key": secret} if secret else view
        raise ApiError(409, "Conflict", "the key changed concurrently, retry")

    def lookup(self, access_key: str) -> tuple[Principal, str, bool] | None:
        """(principal, secret, galaxy_v3 enabled) of an enabled key, None for unknown or disabled keys."""
        item = self.store.get(f"/keys/{access_key}")
        if item is None or not item.value["enabled"]:
            return None
        v = item.value
        return Principal(access_key, v["org_id"], v["role"]), self.box.open(v["secret"]), v["galaxy_v3"]
