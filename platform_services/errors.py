"""The one error type the service raises for a client's mistake; the API turns it into JSON."""


class ApiError(Exception):
    """An answer `{"error": {"code", "message", "field"}}` with an HTTP status."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None, **extra):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.extra = extra

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "field": self.field, **self.extra}}


def not_found(kind: str, name: str) -> ApiError:
    # Another tenant's object is answered exactly like a missing one: 404, never 403.
    return ApiError(404, "NotFound", f"{kind} {name!r} not found")


def replayed_request() -> ApiError:
    # SigV4 and Galaxy V3 carry no nonce: a signature is accepted once (auth/replay.py).
    return ApiError(
        401, "ReplayedRequest", "this signature was already used; sign every request anew", "Authorization"
    )
