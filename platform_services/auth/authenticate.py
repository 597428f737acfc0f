"""The FastAPI dependency that turns a signed request into a Principal, or a 401 that says why."""

import hashlib
import hmac
import time

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from platform_services.auth import galaxy, sigv4
from platform_services.errors import ApiError, replayed_request
from platform_services.tenancy.service import Principal


def _unauthorized(code: str, message: str, **extra) -> ApiError:
    return ApiError(401, code, message, "Authorization", **extra)


def _check_skew(request: Request, signed_at: float) -> None:
    settings = request.app.state.services.settings
    now = time.time()
    if abs(now - signed_at) > settings.skew_seconds:
        raise _unauthorized(
            "RequestTimeTooSkewed",
            f"the request was signed at {int(signed_at)}, more than {settings.skew_seconds}s from the "
            "server's "
            f"time {int(now)}; fix the client's clock",
            server_time=int(now),
        )


async def _lookup(request: Request, access_key: str):
    tenancy = request.app.state.services.tenancy
    # A remembered key answers on the event loop; only a store read is worth a hop to the threadpool.
    found = tenancy.cached(access_key) or await run_in_threadpool(tenancy.lookup, access_key)
    if found is None:
        raise _unauthorized("InvalidAccessKeyId", "the access key does not exist or is disabled")
    return found


async def authenticate(request: Request) -> Principal:
    principal, signature = await _verified(request)
    await record_signature(request, signature)
    request.state.access_key = principal.access_key
    return principal


async def authenticate_for_commit(request: Request) -> tuple[Principal, str | None]:
    """For a route that commits anyway (the submission): the principal, and the signature when the replay
    cache lives in the shared store, for the route to create its key in that commit (auth/replay.py), saving
    a durable write. The route must then pass every answer it gives without that commit through
    `record_signature` first. With the cache in this server's memory the signature is admitted here, as
    `authenticate` does, and None is returned."""
    services = request.app.state.services
    if not services.replay.shared:
        return await authenticate(request), None
    principal, signature = await _verified(request)
    request.state.access_key = principal.access_key
    return principal, signature


async def record_signature(request: Request, signature: str) -> None:
    """Record a signature that `authenticate_for_commit` left to the route; ReplayedRequest if it was used."""
    if not await request.app.state.services.replay.admit(signature):
        raise replayed_request()


async def _verified(request: Request) -> tuple[Principal, str]:
    """The principal whose key signed the request, and the signature (not yet checked against replays)."""
    services = request.app.state.services
    body = await request.body()
    authorization = request.headers.get("authorization", "")
    if authorization.startswith(sigv4.ALGORITHM):
        try:
            parsed = sigv4.parse_authorization(authorization)
            _check_skew(request, sigv4.request_time(request.headers.get("x-amz-date")))
            principal, secret, _ = await _lookup(request, parsed.access_key)
            sigv4.verify(
                parsed,
                secret,
                method=request.method,
                raw_path=request.scope["raw_path"].decode("latin-1"),
                query=request.scope["query_string"].decode("latin-1"),
                headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.scope["headers"]],
                body=body,
                region=services.settings.sigv4_region,
                service=services.settings.sigv4_service,
            )
        except sigv4.SigV4Error as exc:
            raise _unauthorized(exc.code, str(exc)) from None
        signature = "v4:" + parsed.signature
    elif authorization.startswith(galaxy.SCHEME):
        principal, signature = await _galaxy(request, authorization, body)
    else:
        raise _unauthorized(
            "MissingAuthentication",
            "sign the request with AWS4-HMAC-SHA256 "
            f"(service {services.settings.sigv4_service!r}, region "
            f"{services.settings.sigv4_region!r})",
        )
    return principal, signature


async def _galaxy(request: Request, authorization: str, body: bytes) -> tuple[Principal, str]:
    access_key = request.headers.get(galaxy.HEADER_KEY_ID, "")
    timestamp = request.headers.get(galaxy.HEADER_TIMESTAMP, "")
    content_md5 = request.headers.get(galaxy.HEADER_MD5, "")
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise _unauthorized("InvalidAuthorization", "X-Xiaomi-Timestamp must be unix seconds")
    _check_skew(request, int(timestamp))
    if not hmac.compare_digest(content_md5, hashlib.md5(body).hexdigest()):
        raise _unauthorized("SignatureDoesNotMatch", "X-Xiaomi-Content-MD5 does not match the body")
    principal, secret, enabled = await _lookup(request, access_key)
    if not enabled:
        raise _unauthorized(
            "SchemeNotEnabled", "Galaxy V3 signatures are not enabled for this key; use SigV4"
        )
    path = request.scope["raw_path"].decode("latin-1")
    expected = galaxy.expected_signature(secret, path, timestamp, content_md5)
    given = authorization[len(galaxy.SCHEME) :].strip()
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise _unauthorized("SignatureDoesNotMatch", "the request signature does not match")
    return principal, "g3:" + given
