"""HTTP surface: JSON errors with the field, 4xx for bad input, 413, health, readiness, metrics, OpenAPI."""

import httpx
import pytest

from platform_services.sdk import ConflictError, QuotaExceededError, ValidationError
from tests.platform_services.conftest import job, wait_for


def test_health_ready_metrics_openapi(api_server):
    assert httpx.get(api_server.url + "/healthz").json() == {"status": "ok"}
    assert httpx.get(api_server.url + "/readyz").json() == {"status": "ok"}
    assert "cloudml_http_requests_total" in httpx.get(api_server.url + "/metrics").text
    spec = httpx.get(api_server.url + "/openapi.json").json()
    assert "/cloud_ml/v1/train" in spec["paths"]
    # The submit body is validated by the route itself, its schema declared by hand: it must stay complete.
    body = spec["paths"]["/cloud_ml/v1/train"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert body["required"] is True
    assert set(schema["required"]) == {"job_name", "module_name", "trainer_uri"}
    assert schema["additionalProperties"] is False
    assert schema["properties"]["worker_count"]["maximum"] == 128
    # Its answer is built by the route itself (StoredJSONResponse): both statuses stay documented.
    assert {"200", "201"} <= set(spec["paths"]["/cloud_ml/v1/train"]["post"]["responses"])


def test_request_id_echoed_and_logged(api_server):
    answer = httpx.get(api_server.url + "/healthz", headers={"X-Request-Id": "trace-123"})
    assert answer.headers["x-request-id"] == "trace-123"
    # The access line may be written just after the answer went out.
    wait_for(lambda: "trace-123" in api_server.log.read_text(), timeout=5)
    assert len(httpx.get(api_server.url + "/healthz").headers["x-request-id"]) == 32


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"job_name": "Bad_Name"}, "InvalidField", "job_name"),
        ({"job_name": "a" * 64}, "InvalidField", "job_name"),
        ({"cpu_limit": "lots"}, "InvalidField", "cpu_limit"),
        ({"memory_limit": "8X"}, "InvalidField", "memory_limit"),
        ({"ps_count": 1000}, "InvalidField", "ps_count"),
        ({"worker_count": -1}, "InvalidField", "worker_count"),
        ({"gpu_limit": 1}, "InvalidField", "gpu_limit"),
        ({"surprise": 1}, "UnknownField", "surprise"),
        ({"module_name": "rm -rf"}, "InvalidField", "module_name"),
        ({"trainer_uri": "ftp://x/y"}, "InvalidField", "trainer_uri"),
        ({"trainer_uri": "/no/such/dir"}, "InvalidField", "trainer_uri"),
        ({"docker_image": "tensorflow/tensorflow"}, "Unsupported", "docker_image"),
        ({"framework": "pytorch", "ps_count": 1}, "InvalidField", None),
    ],
)
def test_bad_submissions_are_400_naming_the_field(api_server, tenant_factory, fields, code, field):
    tenant = tenant_factory(api_server)
    with pytest.raises(ValidationError) as exc:
        tenant.client.submit_train_job(job("ok-name", **fields))
    assert (exc.value.status, exc.value.code, exc.value.field) == (400, code, field)


def test_malformed_bodies(api_server, tenant_factory):
    tenant = tenant_factory(api_server)
    for body in ([], "text", None, {"job_name": 1}):
        with pytest.raises(ValidationError):
            tenant.client.request("POST", "/cloud_ml/v1/train", body=body if body is not None else {})
    with pytest.raises(ValidationError) as exc:
        tenant.client.submit_train_job(job("big", job_args="x" * (2 << 20)))
    assert exc.value.status == 413


def test_unknown_path_and_method_are_json(api_server):
    answer = httpx.get(api_server.url + "/nope")
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "NotFound"
    answer = httpx.put(api_server.url + "/healthz")
    assert answer.status_code == 405 and answer.json()["error"]["code"] == "MethodNotAllowed"


def test_idempotent_submit(api_server, tenant_factory):
    tenant = tenant_factory(api_server)
    first = tenant.client.submit_train_job(job("idem", client_request_id="req-1"))
    again = tenant.client.submit_train_job(job("idem", client_request_id="req-1"))
    assert again["uid"] == first["uid"]
    with pytest.raises(ConflictError) as exc:
        tenant.client.submit_train_job(job("idem", client_request_id="req-1", cpu_limit="0.25"))
    assert exc.value.code == "IdempotencyMismatch"
    with pytest.raises(ConflictError) as exc:
        tenant.client.submit_train_job(job("idem"))
    assert exc.value.code == "AlreadyExists"


def test_reject_if_over_quota(api_server, tenant_factory):
    tenant = tenant_factory(api_server, {"train_gpu_quota": 0, "train_cpu_quota": 1})
    with pytest.raises(QuotaExceededError) as exc:
        tenant.client.submit_train_job(job("too-big", cpu_limit="2", reject_if_over_quota=True))
    assert "train_cpu" in exc.value.message


def test_frameworks_listed(api_server, tenant_factory):
    names = {f["framework"] for f in tenant_factory(api_server).client.list_frameworks()}
    assert {"tensorflow", "pytorch"} <= names
