"""Signature schemes against the real server: SigV4 (botocore) and the seed's Galaxy V3, with the refusals."""

import asyncio
import hashlib
import time
import uuid

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from cryptography.fernet import Fernet

from platform_services.auth import galaxy, sigv4
from platform_services.auth.replay import ReplayCache, SharedReplayCache, replay_cache
from platform_services.sdk import AuthError
from platform_services.store.etcd import EtcdStore
from platform_services.store.sqlite import SqliteStore
from tests.platform_services.conftest import Server, etcd_settings

PATH = "/cloud_ml/v1/org_ids"


def test_seed_sdk_published_vector():
    md5 = hashlib.md5(b"").hexdigest()
    assert md5 == "d41d8cd98f00b204e9800998ecf8427e"
    assert (
        galaxy.expected_signature("sk", "/cloud_ml//v1/train", "1474203860", md5)
        == "2RiDHGBaCYJ7nTJWkBEsqOBF2cY="
    )


def test_replay_cache_remembers_until_expiry():
    cache = ReplayCache(ttl_s=10)
    assert cache.first_use("a", now=0)
    assert not cache.first_use("a", now=5)
    assert cache.first_use("a", now=11)  # expired: the skew check refuses such a request anyway


def _signed(server, key, method="GET", path=PATH, body=b"", amz_date=None, headers=None):
    url = server.url + path
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    signer = SigV4Auth(Credentials(key["access_key"], key["secret_key"]), "cloudml", "local")
    if amz_date:
        request.context["timestamp"] = amz_date
        signer._modify_request_before_signing(request)
        request.headers.replace_header("X-Amz-Date", amz_date)
        canonical = signer.canonical_request(request)
        signature = signer.signature(signer.string_to_sign(request, canonical), request)
        signer._inject_signature_to_request(request, signature)
    else:
        signer.add_auth(request)
    return dict(request.headers.items())


def test_botocore_signed_round_trip(api_server, tenant_factory):
    tenant = tenant_factory(api_server)
    headers = _signed(api_server, tenant.key, path=PATH + "?x=1&a=b%20c")
    answer = httpx.get(api_server.url + PATH + "?x=1&a=b%20c", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["org_id"] == tenant.org_id


def test_replayed_signature_refused(api_server, tenant_factory):
    tenant = tenant_factory(api_server)
    headers = _signed(api_server, tenant.key)
    assert httpx.get(api_server.url + PATH, headers=headers).status_code == 200
    again = httpx.get(api_server.url + PATH, headers=headers)
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "ReplayedRequest"


def test_a_request_signed_by_the_sdk_can_be_sent_by_another_client_once(api_server, tenant_factory):
    tenant = tenant_factory(api_server)
    body = {"job_name": "presigned", "module_name": "trainer.task", "trainer_uri": "/nonexistent"}
    url, data, headers = tenant.client.signed_request("POST", "/cloud_ml/v1/train", body=body)
    first = httpx.post(url, content=data, headers={**headers, "X-Request-Id": "outside-the-signature"})
    assert first.status_code == 400 and first.json()["error"]["field"] == "trainer_uri"  # signature accepted
    again = httpx.post(url, content=data, headers=headers)
    assert again.status_code == 401 and again.json()["error"]["code"] == "ReplayedRequest"


def test_a_replay_to_another_replica_is_refused(etcd, tmp_path, tenant_factory):
    """Two servers sharing one etcd (same prefix and server key) share the replay cache too."""
    shared = {
        "server_key": Fernet.generate_key().decode(),
        "runner_enabled": "false",
        **etcd_settings(etcd, f"/replay-{uuid.uuid4().hex[:8]}"),
    }
    servers = [Server(tmp_path / name, **shared).start() for name in ("replica-a", "replica-b")]
    try:
        tenant = tenant_factory(servers[0])
        # SigV4 signs the Host header; behind a load balancer every replica sees the same one.
        headers = {**_signed(servers[0], tenant.key), "Host": f"127.0.0.1:{servers[0].port}"}
        assert httpx.get(servers[0].url + PATH, headers=headers).status_code == 200
        again = httpx.get(servers[1].url + PATH, headers=headers)
        assert again.status_code == 401
        assert again.json()["error"]["code"] == "ReplayedRequest"
        fresh = _signed(servers[1], tenant.key)
        assert httpx.get(servers[1].url + PATH, headers=fresh).status_code == 200
    finally:
        for server in servers:
            server.stop()


def test_the_replay_cache_is_shared_only_where_the_store_is(etcd, tmp_path):
    sqlite, shared = SqliteStore(tmp_path / "db.sqlite"), EtcdStore(etcd.client_config, prefix="/replay-unit")
    assert isinstance(replay_cache(sqlite, 600), ReplayCache)
    cache = replay_cache(shared, 600)
    assert isinstance(cache, SharedReplayCache)
    signature = "v4:" + uuid.uuid4().hex
    assert asyncio.run(cache.admit(signature))
    other_replica = SharedReplayCache(EtcdStore(etcd.client_config, prefix="/replay-unit"), 600)
    assert not asyncio.run(other_replica.admit(signature))


def test_tampered_body_and_method_refused(api_server, tenant_factory):
    tenant = tenant_factory(api_server)
    body = b'{"org_id": "x"}'
    headers = _signed(api_server, tenant.key, method="POST", path="/cloud_ml/v1/admin/orgs", body=body)
    tampered = httpx.post(
        api_server.url + "/cloud_ml/v1/admin/orgs", headers=headers, content=b'{"org_id": "y"}'
    )
    assert tampered.status_code == 401
    assert tampered.json()["error"]["code"] == "SignatureDoesNotMatch"
    headers = _signed(api_server, tenant.key, path="/cloud_ml/v1/train/job-a")
    swapped = httpx.delete(api_server.url + "/cloud_ml/v1/train/job-a", headers=headers)
    assert swapped.status_code == 401
    headers = _signed(api_server, tenant.key, path=PATH + "?org_id=a")
    assert httpx.get(api_server.url + PATH + "?org_id=b", headers=headers).status_code == 401


def test_skew_refused_with_server_time(api_server, tenant_factory):
    tenant = tenant_factory(api_server)
    old = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() - 3600))
    answer = httpx.get(api_server.url + PATH, headers=_signed(api_server, tenant.key, amz_date=old))
    assert answer.status_code == 401
    error = answer.json()["error"]
    assert error["code"] == "RequestTimeTooSkewed"
    assert abs(error["server_time"] - time.time()) < 5


def test_wrong_secret_unknown_and_disabled_keys_refused(api_server, tenant_factory):
    tenant = tenant_factory(api_server)
    secret = tenant.key["secret_key"]
    wrong = {**tenant.key, "secret_key": ("A" if secret[0] != "A" else "B") + secret[1:]}
    with pytest.raises(AuthError) as exc:
        api_server.client(wrong).get_org_id()
    assert exc.value.code == "SignatureDoesNotMatch"
    with pytest.raises(AuthError) as exc:
        api_server.client({**tenant.key, "access_key": "AKNOSUCHKEY000000000"}).get_org_id()
    assert exc.value.code == "InvalidAccessKeyId"
    tenant.admin.update_key(tenant.key["access_key"], enabled=False)
    with pytest.raises(AuthError):
        tenant.client.get_org_id()
    tenant.admin.update_key(tenant.key["access_key"], enabled=True)
    assert tenant.client.get_org_id()["org_id"] == tenant.org_id


def test_amz_date_parsed_as_utc_and_impossible_dates_refused():
    assert sigv4.request_time("19700101T000000Z") == 0
    assert sigv4.request_time("20240229T235959Z") == 1709251199
    for impossible in ("20230229T000000Z", "20241301T000000Z", "20240101T240000Z", "00000101T000000Z"):
        with pytest.raises(sigv4.SigV4Error, match="not a valid time"):
            sigv4.request_time(impossible)


def test_unsigned_and_malformed_refused(api_server):
    assert httpx.get(api_server.url + PATH).status_code == 401
    bad = {"Authorization": "AWS4-HMAC-SHA256 Credential=x", "X-Amz-Date": "nope"}
    answer = httpx.get(api_server.url + PATH, headers=bad)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "InvalidAuthorization"


def _galaxy_get(server, key, path, timestamp=None):
    headers = galaxy.sign(key["secret_key"], path, str(timestamp or int(time.time())), b"")
    headers[galaxy.HEADER_KEY_ID] = key["access_key"]
    return httpx.get(server.url + path, headers=headers)


def test_galaxy_v3_only_for_keys_that_enable_it(api_server, tenant_factory):
    tenant = tenant_factory(api_server)
    refused = _galaxy_get(api_server, tenant.key, "/cloud_ml//v1/org_ids")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "SchemeNotEnabled"
    tenant.admin.update_key(tenant.key["access_key"], galaxy_v3=True)
    # The seed SDK's doubled slash is routed; the signature covers the raw path it sent.
    accepted = _galaxy_get(api_server, tenant.key, "/cloud_ml//v1/org_ids")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["org_id"] == tenant.org_id
    skewed = _galaxy_get(api_server, tenant.key, PATH, timestamp=int(time.time()) - 3600)
    assert skewed.json()["error"]["code"] == "RequestTimeTooSkewed"


def test_sigv4_helper_matches_botocore_verify(api_server, tenant_factory):
    tenant = tenant_factory(api_server)
    headers = sigv4.sign(
        tenant.key["access_key"],
        tenant.key["secret_key"],
        method="GET",
        url=api_server.url + PATH,
        body=b"",
        region="local",
        service="cloudml",
    )
    assert httpx.get(api_server.url + PATH, headers=headers).status_code == 200
    wrong_scope = sigv4.sign(
        tenant.key["access_key"],
        tenant.key["secret_key"],
        method="GET",
        url=api_server.url + PATH,
        body=b"",
        region="us-east-1",
        service="cloudml",
    )
    assert httpx.get(api_server.url + PATH, headers=wrong_scope).status_code == 401


def _verify(headers: dict, secret: str, body: bytes, region: str = "local") -> None:
    parsed = sigv4.parse_authorization(headers["Authorization"])
    sigv4.verify(
        parsed,
        secret,
        method="POST",
        raw_path="/cloud_ml/v1/train",
        query="",
        headers=[(k.lower(), v) for k, v in headers.items()] + [("host", "127.0.0.1:1")],
        body=body,
        region=region,
        service="cloudml",
    )


@pytest.mark.parametrize("day", ["20261124", "20261125"])
def test_signing_keys_kept_per_secret_and_day_never_verify_another(day):
    """The server keeps derived signing keys: a key derived for one secret, or one day, must not verify a
    request signed with another (the second secret is tried after the first one's key was kept)."""
    body = b'{"job_name": "a"}'
    stamp = f"{day}T120000Z"
    for secret, other in (("first-secret", "second-secret"), ("second-secret", "first-secret")):
        headers = _signed_at(stamp, secret, body)
        _verify(headers, secret, body)
        with pytest.raises(sigv4.SigV4Error, match="does not match"):
            _verify(headers, other, body)
    other_day = _signed_at(f"{int(day) - 1}T120000Z", "first-secret", body)
    _verify(other_day, "first-secret", body)


def _signed_at(amz_date: str, secret: str, body: bytes) -> dict:
    """A request signed by botocore itself, at a given time: add_auth's steps with the clock set."""
    signer = SigV4Auth(Credentials("AKTEST", secret), "cloudml", "local")
    request = AWSRequest(method="POST", url="http://127.0.0.1:1/cloud_ml/v1/train", data=body)
    request.context["timestamp"] = amz_date
    signer._modify_request_before_signing(request)
    signature = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    signer._inject_signature_to_request(request, signature)
    return dict(request.headers.items())
