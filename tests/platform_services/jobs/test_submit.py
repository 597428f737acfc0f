"""Submission's answers when the name is taken: the commit's compare decides, on both stores."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from platform_services.sdk import ConflictError
from tests.platform_services.conftest import job


@pytest.fixture(params=["sqlite", "etcd"])
def server(request):
    return request.getfixturevalue("api_server" if request.param == "sqlite" else "etcd_api_server")


def test_one_name_submitted_at_once_is_created_once(server, tenant_factory):
    tenant = tenant_factory(server)
    clients = [server.client(tenant.key) for _ in range(16)]

    def submit(client):
        try:
            return client.submit_train_job(job("same-name"))["uid"]
        except ConflictError as exc:
            return exc.code

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(submit, clients))
    assert answers.count("AlreadyExists") == 15
    created = tenant.client.describe_train_job("same-name")["uid"]
    assert [a for a in answers if a != "AlreadyExists"] == [created]
    assert tenant.client.get_quota()[0]["train_count_used"] == 1


def test_a_taken_name_is_named_before_an_over_quota_refusal(server, tenant_factory):
    tenant = tenant_factory(server, {"train_cpu_quota": 1})
    tenant.client.submit_train_job(job("taken", cpu_limit="1"))
    with pytest.raises(ConflictError) as exc:
        tenant.client.submit_train_job(job("taken", cpu_limit="1", reject_if_over_quota=True))
    assert exc.value.code == "AlreadyExists"
    with pytest.raises(ConflictError) as exc:
        tenant.client.submit_train_job(job("other", cpu_limit="1", reject_if_over_quota=True))
    assert exc.value.code == "QuotaExceeded"
