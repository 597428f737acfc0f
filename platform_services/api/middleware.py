"""One ASGI middleware: request id, body size limit (413), `//` in paths, access log, request metrics."""

import json
import logging
import re
import time
import uuid

from platform_services.api.observability import Metrics, request_id

log = logging.getLogger("platform_services.access")
_CLIENT_RID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_SLASHES = re.compile(r"/{2,}")


def _error(status: int, code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "field": None}}).encode()


class RequestContext:
    def __init__(self, app, *, max_body_bytes: int, metrics: Metrics):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        headers = dict(scope["headers"])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        rid = given if _CLIENT_RID.match(given) else uuid.uuid4().hex
        token = request_id.set(rid)
        # The seed SDK builds URLs like /cloud_ml//v1/train; route on the collapsed path, sign on the raw one.
        scope["path"] = _SLASHES.sub("/", scope["path"])
        status = {"code": 500}

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            body = await self._read_body(headers, receive)
            if body is None:
                await self._reply(
                    send_with_id, 413, "BodyTooLarge", f"the request body exceeds {self.max_body_bytes} bytes"
                )
                return
            replayed = False

            async def replay():
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            await self.app(scope, replay, send_with_id)
        finally:
            route = scope.get("route")
            label = getattr(route, "path", "unmatched")
            elapsed = time.perf_counter() - started
            self.metrics.requests.labels(scope["method"], label, str(status["code"])).inc()
            self.metrics.latency.labels(scope["method"], label).observe(elapsed)
            state = scope.get("state") or {}
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status["code"],
                    "ms": round(elapsed * 1000, 2),
                    "access_key": state.get("access_key"),
                },
            )
            request_id.reset(token)

    async def _read_body(self, headers, receive) -> bytes | None:
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            return None
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    @staticmethod
    async def _reply(send, status: int, code: str, message: str) -> None:
        body = _error(status, code, message)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
