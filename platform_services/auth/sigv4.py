"""AWS Signature Version 4 verification, with botocore's signer doing the canonical computation.

The server rebuilds the request the client signed (method, raw path, raw query, the headers named in
SignedHeaders, the body) and asks botocore's SigV4Auth for the signature it would have produced with the key's
secret; only header selection is narrowed to the signed set. Ref:
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
"""

import calendar
import functools
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ALGORITHM = "AWS4-HMAC-SHA256"
_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<ak>[^/\s,]+)/(?P<date>\d{8})/(?P<region>[^/\s,]+)"
    r"/(?P<service>[^/\s,]+)"
    r"/aws4_request,\s*SignedHeaders=(?P<signed>[a-z0-9;\-]+),\s*Signature=(?P<sig>[0-9a-f]{64})$"
)
_AMZ_DATE = re.compile(r"^\d{8}T\d{6}Z$")


class SigV4Error(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class SigV4Header:
    access_key: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(value: str) -> SigV4Header:
    m = _AUTH.match(value.strip())
    if not m:
        raise SigV4Error("InvalidAuthorization", "malformed AWS4-HMAC-SHA256 Authorization header")
    signed = tuple(m["signed"].split(";"))
    if "host" not in signed or "x-amz-date" not in signed:
        raise SigV4Error("InvalidAuthorization", "SignedHeaders must include host and x-amz-date")
    return SigV4Header(m["ak"], m["date"], m["region"], m["service"], signed, m["sig"])


@functools.lru_cache(maxsize=256)  # under load many requests share a second; a refused value is not cached
def request_time(amz_date: str | None) -> float:
    if not amz_date or not _AMZ_DATE.match(amz_date):
        raise SigV4Error("InvalidAuthorization", "X-Amz-Date must be YYYYMMDDTHHMMSSZ")
    # Fields by position (the pattern fixed them): time.strptime costs several times more per request.
    d = amz_date
    try:
        moment = datetime(int(d[:4]), int(d[4:6]), int(d[6:8]), int(d[9:11]), int(d[11:13]), int(d[13:15]))
    except ValueError as exc:
        raise SigV4Error("InvalidAuthorization", "X-Amz-Date is not a valid time") from exc
    return calendar.timegm(moment.timetuple())


class _SignedHeaders(dict):
    """The headers named in SignedHeaders, name -> values in arrival order: the `get_all` mapping that
    botocore's canonical_headers reads, built once (botocore's HTTPHeaders is an email.Message: dearer)."""

    def get_all(self, name: str) -> list[str]:
        return self[name]


class _SignedHeadersOnly(SigV4Auth):
    def __init__(self, credentials, service, region, signed: _SignedHeaders):
        super().__init__(credentials, service, region)
        self._signed = signed

    def headers_to_sign(self, request):
        return self._signed

    def signature(self, string_to_sign, request):
        # botocore derives the signing key anew (four HMACs) for every request; it depends only on the secret,
        # the day, the region and the service, so it is kept (AWS's guidance: valid for the day).
        key = _signing_key(self, self.credentials.secret_key, request.context["timestamp"][:8])
        return self._sign(key, string_to_sign, hex=True)


def _signing_key(signer: SigV4Auth, secret_key: str, day: str) -> bytes:
    cache_key = (secret_key, day, signer._region_name, signer._service_name)
    key = _SIGNING_KEYS.get(cache_key)
    if key is None:
        key = signer._sign(f"AWS4{secret_key}".encode(), day)
        for part in (signer._region_name, signer._service_name, "aws4_request"):
            key = signer._sign(key, part)
        if len(_SIGNING_KEYS) >= _SIGNING_KEYS_MAX:  # a bound, not an LRU: rotation and new days refill it
            _SIGNING_KEYS.clear()
        _SIGNING_KEYS[cache_key] = key
    return key


_SIGNING_KEYS: dict[tuple[str, str, str, str], bytes] = {}
_SIGNING_KEYS_MAX = 4096


def verify(
    parsed: SigV4Header,
    secret_key: str,
    *,
    method: str,
    raw_path: str,
    query: str,
    headers: list[tuple[str, str]],
    body: bytes,
    region: str,
    service: str,
) -> None:
    """Raise SigV4Error unless the request carries a valid signature by `secret_key`."""
    if parsed.region != region or parsed.service != service:
        raise SigV4Error("InvalidAuthorization", f"credential scope must be <date>/{region}/{service}")
    signed = _SignedHeaders()
    for name, value in headers:
        if name in parsed.signed_headers:
            signed.setdefault(name, []).append(value)
    missing = [h for h in parsed.signed_headers if h not in signed]
    if missing:
        raise SigV4Error("InvalidAuthorization", f"signed header(s) missing: {', '.join(missing)}")
    amz_date = signed["x-amz-date"][0]
    if amz_date[:8] != parsed.date:
        raise SigV4Error("InvalidAuthorization", "credential date does not match X-Amz-Date")
    body_sha256 = hashlib.sha256(body).hexdigest()
    declared = signed.get("x-amz-content-sha256")
    if declared is not None and declared != [body_sha256]:
        # Also refuses UNSIGNED-PAYLOAD: every body is signed here.
        raise SigV4Error("SignatureDoesNotMatch", "x-amz-content-sha256 does not match the body")
    url = f"http://{signed['host'][0]}{raw_path}" + (f"?{query}" if query else "")
    # The body's hash given as the header botocore reads in place of hashing the body again: the same value.
    request = AWSRequest(method=method, url=url, data=body, headers={"X-Amz-Content-SHA256": body_sha256})
    request.context["timestamp"] = amz_date
    signer = _SignedHeadersOnly(Credentials(parsed.access_key, secret_key), service, region, signed)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, parsed.signature):
        raise SigV4Error("SignatureDoesNotMatch", "the request signature does not match")


def sign(
    access_key: str,
    secret_key: str,
    *,
    method: str,
    url: str,
    body: bytes,
    region: str,
    service: str,
    headers: dict[str, str] | None = None,
) -> dict[str, str]:
    """Headers to send: what any botocore-based client would produce (used by the SDK)."""
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    request.headers["X-Amz-Content-SHA256"] = hashlib.sha256(body).hexdigest()
    SigV4Auth(Credentials(access_key, secret_key), service, region).add_auth(request)
    return dict(request.headers.items())
