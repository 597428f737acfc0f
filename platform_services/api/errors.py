"""Every failure becomes `{"error": {"code", "message", "field"}}`; client mistakes are 4xx, never 5xx."""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from platform_services.errors import ApiError
from platform_services.store import StoreUnavailable

log = logging.getLogger("platform_services.api")
_HTTP_CODES = {404: "NotFound", 405: "MethodNotAllowed", 413: "BodyTooLarge", 415: "UnsupportedMediaType"}


def _field(loc) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or None


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        if exc.status == 401:
            request.app.state.services.metrics.auth_failures.labels(exc.code).inc()
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": "invalid"}
        field = _field(first.get("loc", ()))
        kind = first.get("type", "")
        if kind == "extra_forbidden":
            code, message = "UnknownField", f"unknown field {field!r}"
        elif kind == "json_invalid":
            code, message, field = "InvalidJson", "the body is not valid JSON", None
        elif kind == "missing":
            code, message = "MissingField", f"{field} is required"
        else:
            code = "InvalidField"
            message = f"{field}: {first.get('msg', 'invalid')}".removeprefix("None: ").replace(
                "Value error, ", ""
            )
        return JSONResponse(ApiError(400, code, message, field).body(), status_code=400)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        code = _HTTP_CODES.get(exc.status_code, "HttpError")
        return JSONResponse(
            ApiError(exc.status_code, code, str(exc.detail)).body(),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(StoreUnavailable)
    async def unavailable(request: Request, exc: StoreUnavailable):
        log.error("store unavailable", extra={"error": str(exc)})
        return JSONResponse(
            ApiError(503, "StoreUnavailable", "the store is unreachable; retry").body(), status_code=503
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unexpected error")
        return JSONResponse(
            ApiError(500, "InternalError", "internal error; the request id is in the logs").body(),
            status_code=500,
        )
