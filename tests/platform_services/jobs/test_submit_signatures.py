"""A submission's signature is accepted once, whatever the answer, on both stores. On etcd the replay key is
created in the submission's own commit (jobs/routes.py), and every answer given without that commit records
it first: so a replay is refused even where the first answer was a refusal that would not be one now."""

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from types import SimpleNamespace

import httpx
import pytest

from platform_services.auth.replay import SharedReplayCache
from platform_services.errors import ApiError
from platform_services.jobs.routes import _record_before_answering
from platform_services.store import StoreUnavailable
from platform_services.store.etcd import EtcdStore
from tests.platform_services.conftest import dead_url, job

TRAIN = "/cloud_ml/v1/train"


@pytest.fixture(params=["sqlite", "etcd"])
def server(request):
    return request.getfixturevalue("api_server" if request.param == "sqlite" else "etcd_api_server")


def _signed(tenant, body: dict) -> tuple[str, bytes, dict]:
    return tenant.client.signed_request("POST", TRAIN, body=body)


def _send(request: tuple[str, bytes, dict]) -> httpx.Response:
    url, data, headers = request
    return httpx.post(url, content=data, headers=headers, timeout=30)


def _replayed(answer: httpx.Response) -> bool:
    return answer.status_code == 401 and answer.json()["error"]["code"] == "ReplayedRequest"


def test_a_replayed_submission_is_refused_and_admits_nothing(server, tenant_factory):
    tenant = tenant_factory(server)
    request = _signed(tenant, job("once"))
    assert _send(request).status_code == 201
    assert _replayed(_send(request))
    assert [j["job_name"] for j in tenant.client.list_train_jobs()] == ["once"]
    assert tenant.client.get_quota()[0]["train_count_used"] == 1


def test_a_submission_replayed_after_its_job_was_deleted_does_not_create_it_again(server, tenant_factory):
    tenant = tenant_factory(server)
    request = _signed(tenant, job("gone"))
    assert _send(request).status_code == 201
    tenant.client.delete_train_job("gone")  # enqueued or pending on an API-only server: deleted at once
    assert _replayed(_send(request))  # only the signature's key stands in the way now
    assert tenant.client.list_train_jobs() == []


def test_a_refusal_replayed_after_quota_frees_is_refused(server, tenant_factory):
    tenant = tenant_factory(server, {"train_cpu_quota": 1})
    request = _signed(tenant, job("big", cpu_limit="2", reject_if_over_quota=True))
    first = _send(request)
    assert first.status_code == 409 and first.json()["error"]["code"] == "QuotaExceeded"
    tenant.admin.update_quota(tenant.org_id, {"train_cpu_quota": -1})
    assert _replayed(_send(request))  # admitted now, were it not a replay
    assert tenant.client.list_train_jobs() == []
    assert _send(_signed(tenant, job("big", cpu_limit="2", reject_if_over_quota=True))).status_code == 201


def test_an_invalid_submission_replayed_is_refused(server, tenant_factory):
    tenant = tenant_factory(server)
    request = _signed(tenant, {**job("bad"), "no_such_field": 1})
    assert _send(request).status_code == 400
    assert _replayed(_send(request))


def test_a_replayed_idempotent_retry_is_refused(server, tenant_factory):
    tenant = tenant_factory(server)
    body = job("idem", client_request_id="req-1")
    first, retry = _signed(tenant, body), _signed(tenant, body)
    created = _send(first)
    assert created.status_code == 201
    again = _send(retry)  # signed anew: answered with the first job
    assert again.status_code == 200 and again.json()["uid"] == created.json()["uid"]
    assert _replayed(_send(retry)) and _replayed(_send(first))


def test_each_of_many_signatures_sent_twice_at_once_admits_once(server, tenant_factory):
    tenant = tenant_factory(server)
    requests = [_signed(tenant, job(f"pair-{i}")) for i in range(8)]
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(_send, requests + requests))
    for first, second in zip(answers[:8], answers[8:], strict=True):
        codes = sorted([first.status_code, second.status_code])
        assert codes == [201, 401], (first.text, second.text)
        assert _replayed(first if first.status_code == 401 else second)
    assert len(tenant.client.list_train_jobs()) == 8
    assert tenant.client.get_quota()[0]["train_count_used"] == 8


# The route's rule for an answer given without the submission's commit, on a real etcd (a real unreachable
# one for the store's failure); only the request object is a stand-in, carrying the server's replay cache.
def _request(cache) -> SimpleNamespace:
    return SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(services=SimpleNamespace(replay=cache))))


@pytest.mark.parametrize("answer", [ApiError(409, "QuotaExceeded", "over"), StoreUnavailable("etcd is gone")])
def test_an_answer_without_the_commit_records_its_signature_first(etcd, answer):
    cache = SharedReplayCache(EtcdStore(etcd.client_config, prefix=f"/sig-{uuid.uuid4().hex[:8]}"), 600)
    signature = "v4:" + uuid.uuid4().hex
    asyncio.run(_record_before_answering(_request(cache), signature, answer))  # the answer stands
    assert not asyncio.run(cache.admit(signature))  # recorded
    if isinstance(answer, StoreUnavailable):  # the commit may have recorded it itself: the 503 stands
        asyncio.run(_record_before_answering(_request(cache), signature, answer))
    else:
        with pytest.raises(ApiError) as replayed:
            asyncio.run(_record_before_answering(_request(cache), signature, answer))
        assert replayed.value.code == "ReplayedRequest"


def test_a_refusal_whose_signature_cannot_be_recorded_is_answered_503(etcd):
    unreachable = EtcdStore(replace(etcd.client_config, endpoints=(dead_url(),)), timeout_s=1)
    cache = SharedReplayCache(unreachable, 600)
    with pytest.raises(StoreUnavailable):
        asyncio.run(_record_before_answering(_request(cache), "v4:x", ApiError(409, "QuotaExceeded", "over")))
