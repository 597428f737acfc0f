"""Create orgs and access keys, disable and rotate keys. Secret keys are returned once, at creation.

Every signed request looks its access key up. A server remembers the keys it found for `key_cache_ttl_s`
(the setting; 0 turns it off), so a burst of requests costs one store read and one decryption per key. A
change made through this server (disable, rotate, Galaxy V3 on or off) forgets the key here at once; another
server replica sharing the store honours it within `key_cache_ttl_s`: that is the bound on how long a
disabled key or a rotated-out secret may still be accepted. Unknown and disabled keys are never cached.
"""

import re
import secrets
import string
import threading
import time
from dataclasses import dataclass

from platform_services.errors import ApiError, not_found
from platform_services.quotas.ledger import ledger_key, new_ledger
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


KeyLookup = tuple[Principal, str, bool]  # (principal, secret, galaxy_v3 enabled)
KEY_CACHE_MAX = 10_000  # keys remembered at most; the cache starts over when full


class Tenancy:
    def __init__(self, store: Store, box: SecretBox, key_cache_ttl_s: float = 0.0):
        self.store = store
        self.box = box
        self.key_cache_ttl_s = key_cache_ttl_s
        self._keys: dict[str, tuple[float, KeyLookup]] = {}  # access key -> (expiry, lookup)
        self._keys_lock = threading.Lock()
        # Bumped by every key change here: a lookup that read the store before a change does not cache.
        self._keys_generation = 0

    def create_org(self, org_id: str, quota: dict | None = None) -> dict:
        if not ORG_ID.match(org_id):
            raise ApiError(400, "InvalidOrgId", "org_id must be a DNS-1123 label (a-z, 0-9, '-')", "org_id")
        from platform_services.quotas.model import parse_limits

        limits = default_limits()
        limits.update(parse_limits(quota or {}))
        org = {"org_id": org_id, "created_at": int(time.time())}
        ledger = new_ledger(limits)
        ok = self.store.commit(
            [Compare(f"/orgs/{org_id}", 0)],
            [Put(f"/orgs/{org_id}", org), Put(ledger_key(org_id), ledger)],
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
                with self._keys_lock:
                    self._keys.pop(access_key, None)
                    self._keys_generation += 1
                view = key_view(value)
                return {**view, "secret_key": secret} if secret else view
        raise ApiError(409, "Conflict", "the key changed concurrently, retry")

    def cached(self, access_key: str) -> KeyLookup | None:
        """The remembered lookup of an enabled key, None when not remembered (or expired): no I/O."""
        entry = self._keys.get(access_key)
        return entry[1] if entry is not None and entry[0] > time.monotonic() else None

    def lookup(self, access_key: str) -> KeyLookup | None:
        """(principal, secret, galaxy_v3 enabled) of an enabled key, None for unknown or disabled keys."""
        found = self.cached(access_key)
        if found is not None:
            return found
        generation = self._keys_generation
        item = self.store.get(f"/keys/{access_key}")
        if item is None or not item.value["enabled"]:
            return None
        v = item.value
        found = Principal(access_key, v["org_id"], v["role"]), self.box.open(v["secret"]), v["galaxy_v3"]
        if self.key_cache_ttl_s > 0:
            with self._keys_lock:
                if generation != self._keys_generation:
                    return found
                if len(self._keys) >= KEY_CACHE_MAX:
                    self._keys.clear()
                self._keys[access_key] = (time.monotonic() + self.key_cache_ttl_s, found)
        return found
