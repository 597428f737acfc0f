"""The etcd store's HTTP transport: keep-alive HTTPS connections (stdlib http.client) pooled per endpoint,
shared by the server's threads.

Why not httpx (the SDK's client): a store call is on the path of every submission, and httpx spends about
2.5 times the CPU of http.client per small JSON request (measured: ~370 against ~140 us on this project's
2-core hosts), which showed as the largest single cost of a submission on etcd.

What the store needs from it is to tell "not sent" (connecting failed: safe to try the next member, even for
a write) from "sent, no answer" (a write's outcome is unknown). A pooled connection the server has closed
while idle would fail only after the request was written, so a connection is reused only if its socket has
nothing to read (an idle keep-alive connection that is readable has been closed or is out of step).
"""

from __future__ import annotations

import http.client
import select
import ssl
import threading
from urllib.parse import urlsplit

import orjson


class NotSent(Exception):
    """No connection could be made: the request did not reach the endpoint."""


class NoAnswer(Exception):
    """The request may have reached the endpoint, but no complete answer came back."""


class ClientClosed(Exception):
    """The transport was closed."""


class HttpsPool:
    """POST JSON to `https://host:port` endpoints over mutually authenticated TLS."""

    def __init__(self, context: ssl.SSLContext, connect_timeout_s: float, max_idle: int = 64):
        self._context = context
        self._connect_timeout_s = connect_timeout_s
        self._max_idle = max_idle
        self._idle: dict[str, list[http.client.HTTPSConnection]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def post(self, endpoint: str, path: str, body: dict, timeout_s: float) -> tuple[int, bytes]:
        """(status, body) of POST `path` with `body` as JSON. Raises NotSent, NoAnswer or ClientClosed."""
        conn = self._take(endpoint)
        try:
            if conn.sock is None:
                conn.timeout = self._connect_timeout_s
                conn.connect()
        except OSError as exc:  # refused, unreachable, TLS handshake failed, connect timeout
            conn.close()
            raise NotSent(f"{type(exc).__name__}: {exc}") from exc
        try:
            conn.sock.settimeout(timeout_s)
            payload = orjson.dumps(body)  # etcd's JSON carries 64-bit numbers as strings
            conn.request("POST", path, payload, {"Content-Type": "application/json"})
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise NoAnswer(f"{type(exc).__name__}: {exc or 'connection closed'}") from exc
        if response.will_close:
            conn.close()
        else:
            self._give_back(endpoint, conn)
        return response.status, data

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()

    def _take(self, endpoint: str) -> http.client.HTTPSConnection:
        with self._lock:
            if self._closed:
                raise ClientClosed("the etcd client was closed")
            idle = self._idle.get(endpoint, [])
            while idle:
                conn = idle.pop()
                if conn.sock is not None and not _readable(conn.sock):
                    return conn
                conn.close()  # readable while idle: closed by the server (or out of step)
        url = urlsplit(endpoint)
        return http.client.HTTPSConnection(url.hostname, url.port or 443, context=self._context)

    def _give_back(self, endpoint: str, conn: http.client.HTTPSConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(endpoint, [])
            if not self._closed and len(idle) < self._max_idle:
                idle.append(conn)
                return
        conn.close()


def _readable(sock) -> bool:
    poller = select.poll()  # not select.select: that fails on descriptors past FD_SETSIZE
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))
