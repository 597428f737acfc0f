"""A seeded random walk over the served OpenAPI: signed requests with hostile paths, queries and bodies must
never get a 5xx. (schemathesis would generate more shapes; this keeps the suite dependency-free and fast.)"""

import json
import random

import httpx

from platform_services.sdk import CloudMLError

NASTY = ["", "a", "-1", "0", "1e309", "../..", "%00", "ü", "x" * 300, "Bad_Name", "1.5", "-", "null", "[]"]
VALUES = [None, True, -1, 0, 2**70, 1.5, float("1e308"), "", "8G", "2.5", "x" * 5000, [], {}, ["a"], {"a": 1}]


def _value(rng):
    return rng.choice(VALUES + NASTY)


def _body(rng, schema_fields):
    body = {f: _value(rng) for f in rng.sample(schema_fields, k=rng.randint(0, len(schema_fields)))}
    if rng.random() < 0.3:
        body[rng.choice(NASTY) or "extra"] = _value(rng)
    return body


def test_no_5xx_for_random_signed_requests(api_server, tenant_factory):
    tenant = tenant_factory(api_server)
    spec = httpx.get(api_server.url + "/openapi.json").json()
    fields = list(spec["components"]["schemas"]["TrainJobSpec"]["properties"])
    rng = random.Random(6)
    operations = [(path, method) for path, item in spec["paths"].items() for method in item]
    for _ in range(300):
        path, method = rng.choice(operations)
        concrete = path
        for name in ("job_name", "org_id", "access_key"):
            concrete = concrete.replace(
                "{" + name + "}", rng.choice([*NASTY[1:4], "ok-name"]).replace("/", "")
            )
        params = {
            k: _value(rng) for k in rng.sample(["lines", "follow", "replica", "org_id"], k=rng.randint(0, 2))
        }
        body = _body(rng, fields) if method in ("post", "put", "patch") else None
        for client in (tenant.client, tenant.admin):
            try:
                client.request(method.upper(), concrete, params=params, body=body)
            except CloudMLError as exc:
                assert exc.status is not None and exc.status < 500, (method, concrete, params, body, exc)


def test_deeply_nested_and_non_json_bodies(api_server, tenant_factory):
    tenant = tenant_factory(api_server)
    from platform_services.auth.sigv4 import sign

    for raw in (b"[" * 100_000, b"\xff\xfe", b'{"job_name": "a"', json.dumps({"a": 1}).encode() * 3):
        url = api_server.url + "/cloud_ml/v1/train"
        headers = sign(
            tenant.key["access_key"],
            tenant.key["secret_key"],
            method="POST",
            url=url,
            body=raw,
            region="local",
            service="cloudml",
            headers={"Content-Type": "application/json"},
        )
        answer = httpx.post(url, content=raw, headers=headers)
        assert 400 <= answer.status_code < 500, (raw[:20], answer.status_code, answer.text[:200])
