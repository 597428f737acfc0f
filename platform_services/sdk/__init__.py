"""The Python SDK: `CloudMLClient` signs every request with SigV4 and raises typed exceptions."""

from platform_services.sdk.client import CloudMLClient
from platform_services.sdk.errors import (
    AuthError,
    CloudMLError,
    ConflictError,
    NotFoundError,
    QuotaExceededError,
    ServerError,
    ValidationError,
)

__all__ = [
    "AuthError",
    "CloudMLClient",
    "CloudMLError",
    "ConflictError",
    "NotFoundError",
    "QuotaExceededError",
    "ServerError",
    "ValidationError",
]
