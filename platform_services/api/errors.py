"""Every failure becomes `{"error": {"code", "message", "field"}}`; client mistakes are 4xx, never 5xx."""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException

from platform_services.errors import ApiError
from platform_services.store import StoreUnavailable

log = logging.getLogger("platform_services.api")
# Starlette's only 400 is a body it cannot parse (e.g. not UTF-8).
_HTTP_CODES = {
    400: "InvalidJson",
    404: "NotFound",
    405: "MethodNotAllowed",
    413: "BodyTooLarge",
    415: "UnsupportedMediaType",
}
# What a signed route can answer besides its success, as documented in the OpenAPI (validation is 400 here,
# never FastAPI's default 422). Unsigned routes (health, metrics) document their own answers.
ERROR_STATUSES = {
    400: "invalid request: the error names the field and the fix",
    401: "missing, malformed, expired, replayed or wrong signature",
    403: "the key may not do this (admin routes, other orgs)",
    404: "no such object in the caller's org",
    409: "conflicts with the current state (name taken, over quota on request)",
    413: "request body too large",
    503: "the store is unreachable; retry",
}


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")  # some errors add context, e.g. the server time on skew

    code: str
    message: str
    field: str | None


class ErrorBody(BaseModel):
    error: ErrorDetail


def _field(loc) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or None


def _document_errors(app: FastAPI) -> None:
    """Replace FastAPI's 422 with the error answers the service gives, on every signed route."""
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = generate()
            ref = {"$ref": "#/components/schemas/ErrorBody"}
            for path, item in schema["paths"].items():
                for operation in item.values():
                    responses = operation["responses"]
                    responses.pop("422", None)
                    if path.startswith("/cloud_ml/"):
                        for status, description in ERROR_STATUSES.items():
                            responses[str(status)] = {
                                "description": description,
                                "content": {"application/json": {"schema": ref}},
                            }
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for unused in ("HTTPValidationError", "ValidationError"):
                components.pop(unused, None)
            components["ErrorDetail"] = ErrorDetail.model_json_schema()
            components["ErrorBody"] = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
            components["ErrorBody"].pop("$defs", None)
        return app.openapi_schema

    app.openapi = openapi


def install(app: FastAPI) -> None:
    _document_errors(app)

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
