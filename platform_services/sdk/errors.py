"""Typed exceptions of the SDK: one per kind of answer a caller handles differently."""


class CloudMLError(Exception):
    def __init__(self, status: int | None, code: str, message: str, field: str | None = None, body=None):
        super().__init__(f"{code}: {message}" + (f" (field {field})" if field else ""))
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.body = body or {}


class ValidationError(CloudMLError):
    """400: the request is wrong; `field` names the culprit."""


class AuthError(CloudMLError):
    """401/403: bad or disabled key, clock skew (`body['error']['server_time']`), replay, not an admin."""


class NotFoundError(CloudMLError):
    """404: no such object in the caller's org."""


class ConflictError(CloudMLError):
    """409: the name exists, or the idempotency key was used for another request."""


class QuotaExceededError(ConflictError):
    """409 for a job submitted with reject_if_over_quota that does not fit."""


class ServerError(CloudMLError):
    """5xx or no answer: worth retrying later."""


def from_response(status: int, body) -> CloudMLError:
    error = body.get("error", {}) if isinstance(body, dict) else {}
    code = error.get("code", f"HTTP{status}")
    args = (status, code, error.get("message", str(body)[:200]), error.get("field"), body)
    if status == 400 or status == 413:
        return ValidationError(*args)
    if status in (401, 403):
        return AuthError(*args)
    if status == 404:
        return NotFoundError(*args)
    if status == 409:
        return QuotaExceededError(*args) if code == "QuotaExceeded" else ConflictError(*args)
    if status >= 500:
        return ServerError(*args)
    return CloudMLError(*args)
