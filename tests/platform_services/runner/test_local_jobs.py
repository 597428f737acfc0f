"""Real jobs on the local backend: the example trainer, single and distributed, failure, logs, restart."""

import json

from tests.platform_services.conftest import Server, Tenant, job, wait_for


def _finished(client, name):
    def check():
        state = client.describe_train_job(name)["state"]
        return state if state in ("completed", "failed") else None

    return check


def _tf_configs(client, name, replicas):
    configs = {}
    for replica in replicas:
        first = client.get_train_job_logs(name, replica=replica).splitlines()[0]
        seen = json.loads(first.removeprefix("TF_CONFIG "))
        configs[replica] = (seen["cluster"], seen["task"])
    return configs


def test_single_job_completes_and_releases_quota(run_server, tenant_factory):
    tenant = tenant_factory(run_server)
    c = tenant.client
    c.submit_train_job(job("single", job_args="--steps 200"))
    assert wait_for(_finished(c, "single")) == "completed"
    assert "master-0: w=" in c.get_train_job_logs("single", lines=1)
    assert c.get_quota()[0]["train_cpu_used"] == 0
    assert [e["type"] for e in c.get_train_job_events("single")] == [
        "pending",
        "creating",
        "running",
        "completed",
    ]


def test_distributed_job_gets_cloudml_tf_config(run_server, tenant_factory):
    tenant = tenant_factory(run_server)
    c = tenant.client
    c.submit_train_job(job("dist", ps_count=1, worker_count=2, job_args="--steps 200"))
    assert wait_for(_finished(c, "dist")) == "completed"
    described = c.describe_train_job("dist")
    ports = {r["name"]: r["port"] for r in described["replicas"]}
    expected = {
        "master": [f"127.0.0.1:{ports['master-0']}"],
        "ps": [f"127.0.0.1:{ports['ps-0']}"],
        "worker": [f"127.0.0.1:{ports['worker-0']}", f"127.0.0.1:{ports['worker-1']}"],
    }
    configs = _tf_configs(c, "dist", ["master-0", "ps-0", "worker-0", "worker-1"])
    for name, (cluster, task) in configs.items():
        assert cluster == expected
        assert f"{task['type']}-{task['index']}" == name
    assert c.get_quota()[0]["train_cpu_used"] == 0  # the PS (sleeping 60 s) was stopped and released


def test_chief_naming_option(run_server, tenant_factory):
    c = tenant_factory(run_server).client
    c.submit_train_job(job("chief", worker_count=1, tf_chief_name="chief", job_args="--steps 10"))
    assert wait_for(_finished(c, "chief")) == "completed"
    cluster, task = _tf_configs(c, "chief", ["chief-0"])["chief-0"]
    assert set(cluster) == {"chief", "worker"} and task == {"type": "chief", "index": 0}


def test_failing_replica_fails_the_job_with_code_and_last_lines(run_server, tenant_factory):
    c = tenant_factory(run_server).client
    c.submit_train_job(
        job("boom", job_args="--fail", prepare_command="echo preparing", finish_command="echo finishing")
    )
    assert wait_for(_finished(c, "boom")) == "failed"
    described = c.describe_train_job("boom")
    assert described["exit_code"] == 3
    assert "failing on request" in described["message"]
    logs = c.get_train_job_logs("boom")
    assert logs.index("preparing") < logs.index("failing on request") < logs.index("finishing")


def test_logs_follow_streams_until_the_end(run_server, tenant_factory):
    c = tenant_factory(run_server).client
    c.submit_train_job(job("follow", job_args="--steps 3000"))
    text = "".join(c.follow_train_job_logs("follow"))
    assert "master-0: w=" in text
    assert c.describe_train_job("follow")["state"] == "completed"


def test_delete_running_job_stops_its_processes(run_server, tenant_factory):
    tenant = tenant_factory(run_server)
    c = tenant.client
    c.submit_train_job(job("ps-only", ps_count=1, worker_count=0, job_args="--steps 100000"))
    wait_for(lambda: c.describe_train_job("ps-only")["state"] == "running")
    replicas = c.describe_train_job("ps-only")["replicas"]
    c.delete_train_job("ps-only")
    assert c.get_quota()[0]["train_count_used"] == 0
    for r in replicas:
        assert not _alive(r["pid"])


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def test_server_killed_mid_run_loses_nothing(tmp_path):
    server = Server(tmp_path, reconcile_interval_s="0.05")
    server.start()
    try:
        tenant = Tenant(server, {"train_count_quota": 1})
        c = tenant.client
        c.submit_train_job(
            job("survivor", worker_count=1, prepare_command="sleep 1.5", job_args="--steps 10")
        )
        c.submit_train_job(job("queued", job_args="--steps 10"))
        wait_for(lambda: c.describe_train_job("survivor")["state"] == "running")
        server.kill()
        server.start()
        assert wait_for(_finished(c, "survivor")) == "completed"
        assert wait_for(_finished(c, "queued")) == "completed"
        quota = c.get_quota()[0]
        assert quota["train_count_used"] == 0 and quota["train_cpu_used"] == 0
    finally:
        server.stop()
