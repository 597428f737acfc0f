"""The HA store: etcd v3, spoken as JSON over etcd's gRPC gateway with mutual TLS.

Why the gateway and httpx rather than a gRPC client library: etcd serves the same v3 API (Range, Txn, leases,
watch) as JSON on its client port (`/v3/kv/range`, `/v3/kv/txn`, ...; keys and values base64), httpx is
already a dependency, and the maintained gRPC clients either pin old protobuf/grpcio (clashing with pulumi's)
or are young. Ref: https://etcd.io/docs/v3.4/dev-guide/api_grpc_gateway/

The interface maps one to one: an item's `mod_revision` is etcd's, a commit is one Txn whose compares are
`MOD == revision` (etcd treats an absent key as revision 0, the interface's "absent") and whose success
branch holds the puts and deletes. Keys live under `prefix` so the service can share a cluster.

Failure handling: a request that could not be sent (connection refused, TLS handshake, connect timeout) is
tried on the next endpoint. A read that fails after it was sent is retried too (reads are idempotent); a
commit that fails after it was sent is not, because it may have been applied: the caller gets
StoreUnavailable (503 to the API client), never a wrong "compare failed".
"""

from __future__ import annotations

import base64
import json
import ssl
from dataclasses import dataclass
from pathlib import Path

import httpx

from platform_services.store.base import Compare, Delete, Item, Put, StoreUnavailable

# etcd's defaults for `--max-txn-ops` and `--max-request-bytes` (1.5 MiB); the platform's cluster keeps them.
DEFAULT_MAX_TXN_OPS = 128
PAGE_SIZE = 500


class TransactionTooLarge(StoreUnavailable):
    """The commit has more compares or operations than etcd accepts in one Txn (`--max-txn-ops`)."""


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
    def __init__(
        self,
        config: EtcdClientConfig,
        prefix: str = "/cloudml",
        timeout_s: float = 5.0,
        max_txn_ops: int = DEFAULT_MAX_TXN_OPS,
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
        context = ssl.create_default_context(cafile=str(config.ca))
        context.load_cert_chain(str(config.cert), str(config.key))
        # One pool shared by the server's threads (httpx.Client is thread-safe); enough keep-alive connections
        # for the threadpool, so a burst of requests does not pay TLS handshakes.
        self._client = httpx.Client(
            verify=context,
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 2.0)),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
            headers={"Content-Type": "application/json"},
        )

    # ---- transport ---------------------------------------------------------------------------------------
    def _call(self, path: str, body: dict, *, idempotent: bool, timeout_s: float | None = None) -> dict:
        errors = []
        n = len(self._endpoints)
        start = self._current
        for i in range(n):
            index = (start + i) % n
            url = self._endpoints[index] + path
            try:
                answer = self._client.post(url, json=body, timeout=timeout_s or httpx.USE_CLIENT_DEFAULT)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                errors.append(f"{self._endpoints[index]}: {exc or type(exc).__name__}")
                continue  # not sent: safe to try the next member
            except httpx.HTTPError as exc:
                errors.append(f"{self._endpoints[index]}: {exc or type(exc).__name__}")
                if idempotent:
                    continue
                raise StoreUnavailable(f"etcd {path}: outcome unknown ({errors[-1]})") from exc
            except RuntimeError as exc:  # the client was closed under a request
                raise StoreUnavailable(f"etcd client: {exc}") from exc
            if answer.status_code == 200:
                self._current = index
                return answer.json()
            message = _error_message(answer)
            if "too many operations in txn request" in message:
                raise TransactionTooLarge(f"etcd {path}: {message}")
            errors.append(f"{self._endpoints[index]}: HTTP {answer.status_code} {message}")
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

    def list(self, prefix: str) -> list[Item]:
        """All pages are read at the first page's revision, so the list is one consistent snapshot."""
        start = self._key(prefix)
        end = prefix_range_end(start)
        items: list[Item] = []
        revision = None
        while True:
            body = {"key": _b64(start), "range_end": _b64(end), "limit": self._page_size}
            if revision is not None:
                body["revision"] = revision
            answer = self._call("/v3/kv/range", body, idempotent=True)
            revision = revision or answer["header"]["revision"]
            kvs = answer.get("kvs", [])
            items += [self._item(kv) for kv in kvs]
            if not answer.get("more") or not kvs:
                return items
            start = _unb64(kvs[-1]["key"]) + b"\x00"

    def commit(self, compares: list[Compare], ops: list[Put | Delete]) -> bool:
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
        body = {
            "compare": [
                {
                    "key": _b64(self._key(c.key)),
                    "target": "MOD",
                    "result": "EQUAL",
                    "mod_revision": str(c.mod_revision),
                }
                for c in compares
            ],
            "success": [_request_op(self._key(op.key), op) for op in last.values()],
        }
        answer = self._call("/v3/kv/txn", body, idempotent=False)
        return bool(answer.get("succeeded", False))  # the gateway omits false fields

    def ping(self) -> None:
        """A linearizable read (needs a leader and a quorum), then the alarms (NOSPACE refuses writes)."""
        timeout = min(self._timeout_s, 2.0)
        body = {"key": _b64(self._prefix or b"\x00"), "count_only": True}
        self._call("/v3/kv/range", body, idempotent=True, timeout_s=timeout)
        alarms = self._call("/v3/maintenance/alarm", {"action": "GET"}, idempotent=True, timeout_s=timeout)
        active = sorted({a.get("alarm", "NONE") for a in alarms.get("alarms", [])} - {"NONE"})
        if active:
            raise StoreUnavailable(f"etcd alarm: {', '.join(active)}")

    def close(self) -> None:
        self._client.close()


def _request_op(key: bytes, op: Put | Delete) -> dict:
    if isinstance(op, Put):
        value = json.dumps(op.value, separators=(",", ":")).encode()
        return {"request_put": {"key": _b64(key), "value": _b64(value)}}
    return {"request_delete_range": {"key": _b64(key)}}


def _error_message(answer: httpx.Response) -> str:
    try:
        body = answer.json()
    except ValueError:
        return answer.text[:200]
    return str(body.get("message") or body.get("error") or body)[:200]
