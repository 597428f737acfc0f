"""The seed SDK's "Galaxy V3" signature, accepted for keys that enable it (compatibility only).

string_to_sign = PATH + "\n" + TIMESTAMP + "\n" + CONTENT_MD5 + "\n";
signature = base64(HMAC-SHA1(secret_key, string_to_sign)).
Weaknesses (why it is off by default per key): the method, the query string and the host are not signed, so a
captured signed GET of a job is also a valid DELETE of it, and query parameters can be swapped; HMAC-SHA1 and
MD5 are legacy primitives. The replay cache and the skew window apply as for SigV4, which narrows but does not
remove the method-swap attack (the first use of a captured signature can still be turned into a DELETE).
"""

import base64
import hashlib
import hmac

SCHEME = "Galaxy V3 "
HEADER_KEY_ID = "x-xiaomi-secret-key-id"
HEADER_TIMESTAMP = "x-xiaomi-timestamp"
HEADER_MD5 = "x-xiaomi-content-md5"


def string_to_sign(path: str, timestamp: str, content_md5: str) -> str:
    return f"{path}\n{timestamp}\n{content_md5}\n"


def sign(secret_key: str, path: str, timestamp: str, body: bytes) -> dict[str, str]:
    """The headers the seed SDK sends (used by tests and by compatibility clients)."""
    md5 = hashlib.md5(body).hexdigest()
    digest = hmac.new(
        secret_key.encode(), string_to_sign(path, timestamp, md5).encode(), hashlib.sha1
    ).digest()
    return {
        "Authorization": SCHEME + base64.b64encode(digest).decode(),
        HEADER_TIMESTAMP: timestamp,
        HEADER_MD5: md5,
    }


def expected_signature(secret_key: str, path: str, timestamp: str, content_md5: str) -> str:
    digest = hmac.new(
        secret_key.encode(), string_to_sign(path, timestamp, content_md5).encode(), hashlib.sha1
    ).digest()
    return base64.b64encode(digest).decode()
