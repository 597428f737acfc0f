"""The HA store: etcd v3, spoken as JSON over etcd's gRPC gateway with mutual TLS.

Why the gateway rather than a gRPC client library: etcd serves the same v3 API (Range, Txn, leases, watch) as
JSON on its client port (`/v3/kv/range`, `/v3/kv/txn`, ...; keys and values base64), spoken here over pooled
stdlib HTTPS connections (store/etcd_http.py), while the maintained gRPC clients either pin old
protobuf/grpcio (clashing with pulumi's) or are young. Ref: https://etcd.io/docs/v3.4/dev-guide/api_grpc_gateway/

The interface maps one to one: an item's `mod_revision` is etcd's, a commit is one Txn whose compares are
`MOD == revision` (etcd treats an absent key as revision 0, the interface's "absent") and whose success
branch holds the puts and deletes. Keys live under `prefix` so the service can share a cluster.

Failure handling: a request that could not be sent (connection refused, TLS handshake, connect timeout) is
tried on the next endpoint. A read that fails after it was sent is retried too (reads are idempotent); a
commit that fails after it was sent is not, because it may have been applied: the caller gets
StoreUnavailable (503 to the API client), never a wrong "compare failed".

Leases: the leadership claim is etcd's election recipe (what clientv3/concurrency's Election does): a lease
this candidate keeps alive, and a leader key created only if absent (`create_revision == 0`) and attached to
that lease, so etcd deletes it when the lease expires or is revoked. `create_expiring` (the shared replay
cache) attaches keys to a lease shared by every key created within a tenth of the TTL, so it costs one Txn per
key and one lease grant per window; a commit's expiring puts (`Put.expires_in_s`: a submission's replay key)
go on the same lease. Ref: https://etcd.io/docs/v3.4/learning/api/#lease-api
"""

from __future__ import annotations

import base64
import contextlib
import json
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from platform_services.store.base import (
    MAX_TXN_OPS,
    Compare,
    Delete,
    Item,
    Put,
    StoreUnavailable,
    encode_json,
)
from platform_services.store.etcd_http import ClientClosed, HttpsPool, NoAnswer, NotSent

PAGE_SIZE = 500


class TransactionTooLarge(StoreUnavailable):
    """The commit has more compares or operations than etcd accepts in one Txn (`--max-txn-ops`)."""


class LeaseNotFound(StoreUnavailable):
    """The lease named in the request has expired or was revoked; nothing was applied."""


@dataclass(frozen=True)
class EtcdClientConfig:
    """Where the cluster is and the client certificate to reach it with (see Settings.etcd_client_config)."""

    endpoints: tuple[str, ...]
    ca: Path
    cert: Path
    key: Path


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)


def prefix_range_end(prefix: bytes) -> bytes:
    """The smallest key greater than every key starting with `prefix` (etcd's GetPrefixRangeEnd)."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\x00"  # etcd: range_end "\0" with a key means "every key from key on"


class EtcdStore:
    shared = True

    def __init__(
        self,
        config: EtcdClientConfig,
        prefix: str = "/cloudml",
        timeout_s: float = 5.0,
        max_txn_ops: int = MAX_TXN_OPS,
        page_size: int = PAGE_SIZE,
    ):
        if not config.endpoints:
            raise ValueError("etcd store needs at least one endpoint")
        for url in config.endpoints:
            if not url.startswith("https://"):
                raise ValueError(f"etcd endpoint {url!r}: only https:// (mutual TLS) is supported")
        self._endpoints = [url.rstrip("/") for url in config.endpoints]
        self._current = 0  # the endpoint that answered last; requests start there
        self._prefix = prefix.encode()
        self._timeout_s = timeout_s
        self.max_txn_ops = max_txn_ops
        self._page_size = page_size
        self._expiring_leases: dict[int, tuple[str, float]] = {}  # ttl_s -> (lease ID, usable until)
        self._expiring_lock = threading.Lock()
        context = ssl.create_default_context(cafile=str(config.ca))
        context.load_cert_chain(str(config.cert), str(config.key))
        # One pool shared by the server's threads; enough keep-alive connections for the threadpool, so a
        # burst of requests does not pay TLS handshakes.
        self._http = HttpsPool(context, connect_timeout_s=min(timeout_s, 2.0), max_idle=64)

    # ---- transport ---------------------------------------------------------------------------------------
    def _call(self, path: str, body: dict, *, idempotent: bool, timeout_s: float | None = None) -> dict:
        errors = []
        n = len(self._endpoints)
        start = self._current
        for i in range(n):
            index = (start + i) % n
            endpoint = self._endpoints[index]
            try:
                status, data = self._http.post(endpoint, path, body, timeout_s or self._timeout_s)
            except NotSent as exc:
                errors.append(f"{endpoint}: {exc}")
                continue  # not sent: safe to try the next member
            except NoAnswer as exc:
                errors.append(f"{endpoint}: {exc}")
                if idempotent:
                    continue
                raise StoreUnavailable(f"etcd {path}: outcome unknown ({errors[-1]})") from exc
            except ClientClosed as exc:
                raise StoreUnavailable(f"etcd client: {exc}") from exc
            if status == 200:
                self._current = index
                # The gateway writes 64-bit numbers as strings, so orjson reads every answer exactly.
                return orjson.loads(data)
            message = _error_message(data)
            if "too many operations in txn request" in message:
                raise TransactionTooLarge(f"etcd {path}: {message}")
            if "requested lease not found" in message:
                raise LeaseNotFound(f"etcd {path}: {message}")
            errors.append(f"{endpoint}: HTTP {status} {message}")
            if not idempotent:
                raise StoreUnavailable(f"etcd {path}: {errors[-1]}")
        raise StoreUnavailable(f"etcd {path}: no endpoint answered ({'; '.join(errors)})")

    def _key(self, key: str) -> bytes:
        return self._prefix + key.encode()

    def _item(self, kv: dict) -> Item:
        key = _unb64(kv["key"])[len(self._prefix) :].decode()
        return Item(key, json.loads(_unb64(kv.get("value", ""))), int(kv["mod_revision"]))

    # ---- the Store interface -----------------------------------------------------------------------------
    def get(self, key: str) -> Item | None:
        answer = self._call("/v3/kv/range", {"key": _b64(self._key(key))}, idempotent=True)
        kvs = answer.get("kvs", [])
        return self._item(kvs[0]) if kvs else None

    def list(self, prefix: str, limit: int | None = None) -> list[Item]:
        """All pages are read at the first page's revision, so the list is one consistent snapshot."""
        if limit is not None and limit <= 0:
            return []  # etcd reads a zero limit as "no limit"
        start = self._key(prefix)
        end = prefix_range_end(start)
        items: list[Item] = []
        revision = None
        while True:
            page = self._page_size if limit is None else min(self._page_size, limit - len(items))
            body = {"key": _b64(start), "range_end": _b64(end), "limit": page}
            if revision is not None:
                body["revision"] = revision
            answer = self._call("/v3/kv/range", body, idempotent=True)
            revision = revision or answer["header"]["revision"]
            kvs = answer.get("kvs", [])
            items += [self._item(kv) for kv in kvs]
            if not answer.get("more") or not kvs or len(items) == limit:
                return items
            start = _unb64(kvs[-1]["key"]) + b"\x00"

    def commit(self, compares: list[Compare], ops: list[Put | Delete]) -> int:
        # etcd refuses a Txn naming one key twice; applying ops in order means the last op on a key wins.
        last: dict[str, Put | Delete] = {}
        for op in ops:
            last.pop(op.key, None)
            last[op.key] = op
        if len(compares) > self.max_txn_ops or len(last) > self.max_txn_ops:
            raise TransactionTooLarge(
                f"etcd accepts at most {self.max_txn_ops} compares and {self.max_txn_ops} operations per "
                f"transaction (--max-txn-ops); this one has {len(compares)} and {len(last)}"
            )
        compare = [
            {
                "key": _b64(self._key(c.key)),
                "target": "MOD",
                "result": "EQUAL",
                "mod_revision": str(c.mod_revision),
            }
            for c in compares
        ]
        ttls = {op.expires_in_s for op in last.values() if isinstance(op, Put)} - {None}

        def send(leases: dict[int, str]) -> int:
            body = {"compare": compare, "success": [self._request_op(op, leases) for op in last.values()]}
            answer = self._call("/v3/kv/txn", body, idempotent=False)
            # The gateway omits false fields; the header's revision is the Txn's (every put's mod_revision).
            return int(answer["header"]["revision"]) if answer.get("succeeded") else 0

        return self._on_expiring_leases(ttls, send)

    def _request_op(self, op: Put | Delete, leases: dict[int, str]) -> dict:
        key = self._key(op.key)
        if isinstance(op, Delete):
            return {"request_delete_range": {"key": _b64(key)}}
        if op.expires_in_s is not None:
            return _put(key, encode_json(op.value), leases[op.expires_in_s])
        return {"request_put": {"key": _b64(key), "value": _b64(encode_json(op.value))}}

    def ping(self) -> None:
        """A linearizable read (needs a leader and a quorum), then the alarms (NOSPACE refuses writes)."""
        timeout = min(self._timeout_s, 2.0)
        body = {"key": _b64(self._prefix or b"\x00"), "count_only": True}
        self._call("/v3/kv/range", body, idempotent=True, timeout_s=timeout)
        alarms = self._call("/v3/maintenance/alarm", {"action": "GET"}, idempotent=True, timeout_s=timeout)
        active = sorted({a.get("alarm", "NONE") for a in alarms.get("alarms", [])} - {"NONE"})
        if active:
            raise StoreUnavailable(f"etcd alarm: {', '.join(active)}")

    def leadership(self, name: str, candidate: str, ttl_s: int) -> EtcdLeadership:
        return EtcdLeadership(self, name, candidate, ttl_s)

    def create_expiring(self, key: str, ttl_s: int) -> bool:
        """Create `key` unless it exists, for etcd to delete at least `ttl_s` later; True if this call created
        it. One Txn (plus a lease grant once per tenth of the TTL)."""
        return self.create_expiring_many([key], ttl_s)[0]

    def create_expiring_many(self, keys: list[str], ttl_s: int) -> list[bool]:
        """`create_expiring` for each of `keys` (distinct, at most half of max_txn_ops: etcd counts a nested
        Txn's operations too), in one Txn: each key is its own nested Txn (compare absent, put), so a key
        that exists does not stop the others."""
        if len(keys) > self.max_txn_ops // 2:
            raise TransactionTooLarge(f"{len(keys)} keys in one Txn; at most {self.max_txn_ops // 2}")

        def send(leases: dict[int, str]) -> list[bool]:
            lease = leases[ttl_s]
            txns = [
                {"compare": [_absent(self._key(key))], "success": [_put(self._key(key), b"{}", lease)]}
                for key in keys
            ]
            if len(txns) == 1:
                return [bool(self._call("/v3/kv/txn", txns[0], idempotent=False).get("succeeded", False))]
            body = {"success": [{"request_txn": txn} for txn in txns]}
            answer = self._call("/v3/kv/txn", body, idempotent=False)
            return [bool(r["response_txn"].get("succeeded", False)) for r in answer["responses"]]

        return self._on_expiring_leases({ttl_s}, send)

    def _on_expiring_leases(self, ttls: set[int], send):
        """`send(leases)` with the shared lease of each TTL in `ttls`; when etcd no longer knows one (revoked
        by hand?), nothing was applied: once more on fresh leases."""
        for attempt in range(2):
            leases = {ttl: self._expiring_lease(ttl, renew=attempt > 0) for ttl in ttls}
            try:
                return send(leases)
            except LeaseNotFound:
                continue
        raise StoreUnavailable(f"etcd: the lease for expiring keys (TTL {sorted(ttls)} s) vanished twice")

    def _expiring_lease(self, ttl_s: int, renew: bool) -> str:
        window = max(1, ttl_s // 10)
        with self._expiring_lock:
            lease, usable_until = self._expiring_leases.get(ttl_s, ("", 0.0))
            if renew or time.monotonic() >= usable_until:
                # Granted for ttl_s + window and used for `window`: every key lives at least ttl_s.
                usable_until = time.monotonic() + window
                lease = self.grant_lease(ttl_s + window)
                self._expiring_leases[ttl_s] = (lease, usable_until)
            return lease

    # ---- leases ------------------------------------------------------------------------------------------
    def grant_lease(self, ttl_s: int) -> str:
        return self._call("/v3/lease/grant", {"TTL": ttl_s}, idempotent=False)["ID"]

    def keep_alive(self, lease: str) -> int:
        """Refresh the lease; its TTL now, 0 once it has expired or was revoked."""
        answer = self._call("/v3/lease/keepalive", {"ID": lease}, idempotent=True)
        return int(answer.get("result", {}).get("TTL", 0))  # the gateway omits a zero TTL

    def revoke_lease(self, lease: str) -> None:
        """Revoke the lease, deleting every key attached to it; one already gone is no error."""
        with contextlib.suppress(LeaseNotFound):
            self._call("/v3/lease/revoke", {"ID": lease}, idempotent=True)

    def close(self) -> None:
        self._http.close()


class EtcdLeadership:
    def __init__(self, store: EtcdStore, name: str, candidate: str, ttl_s: int):
        self._store = store
        self._key = store._key(f"/leaders/{name}")
        self.candidate = candidate
        self.ttl_s = ttl_s
        self._lease: str | None = None  # kept alive while this candidate campaigns, leading or not

    def campaign(self) -> str:
        if self._lease is not None and self._store.keep_alive(self._lease) <= 0:
            self._lease = None  # expired, and the leader key with it if it was ours
        if self._lease is None:
            self._lease = self._store.grant_lease(self.ttl_s)
        body = {
            "compare": [_absent(self._key)],
            "success": [_put(self._key, self.candidate.encode(), self._lease)],
            "failure": [{"request_range": {"key": _b64(self._key)}}],
        }
        try:
            answer = self._store._call("/v3/kv/txn", body, idempotent=False)
        except LeaseNotFound:
            self._lease = None  # expired between the keep-alive and the Txn; the next campaign grants anew
            raise
        if answer.get("succeeded"):
            return self.candidate
        # The compare failed, so the key exists at the Txn's revision: its value is the holder.
        return _unb64(answer["responses"][0]["response_range"]["kvs"][0]["value"]).decode()

    def resign(self) -> None:
        if self._lease is not None:
            lease, self._lease = self._lease, None
            self._store.revoke_lease(lease)  # deletes the leader key at once when it is ours


def _absent(key: bytes) -> dict:
    return {"key": _b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": "0"}


def _put(key: bytes, value: bytes, lease: str) -> dict:
    return {"request_put": {"key": _b64(key), "value": _b64(value), "lease": lease}}


def _error_message(data: bytes) -> str:
    try:
        body = json.loads(data)
    except ValueError:
        return data.decode("utf-8", "replace")[:200]
    if not isinstance(body, dict):
        return str(body)[:200]
    return str(body.get("message") or body.get("error") or body)[:200]
