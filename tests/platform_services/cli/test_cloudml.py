"""The `cloudml` CLI as a user runs it: a subprocess, configured by environment or config file."""

import json
import os
import subprocess
import sys

from tests.platform_services.conftest import EXAMPLE_TRAINER


def cloudml(args, env, config_path):
    env = {**os.environ, "CLOUDML_CONFIG": str(config_path), **env}
    for name in ("CLOUDML_ENDPOINT", "CLOUDML_ACCESS_KEY", "CLOUDML_SECRET_KEY"):
        if env.get(name) is None:
            env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "platform_services.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_submit_list_describe_with_seed_flags(api_server, tenant_factory, tmp_path):
    tenant = tenant_factory(api_server)
    env = {
        "CLOUDML_ENDPOINT": api_server.url,
        "CLOUDML_ACCESS_KEY": tenant.key["access_key"],
        "CLOUDML_SECRET_KEY": tenant.key["secret_key"],
    }
    done = cloudml(
        [
            "jobs",
            "submit",
            "-n",
            "cli-job",
            "-m",
            "trainer.task",
            "-u",
            str(EXAMPLE_TRAINER),
            "-a",
            "--steps 5",
            "-c",
            "0.5",
            "-M",
            "256M",
            "-p",
            "1",
            "-w",
            "2",
            "-pc",
            "true",
        ],
        env,
        tmp_path / "none.json",
    )
    assert done.returncode == 0, done.stderr
    listed = cloudml(["--json", "jobs", "list"], env, tmp_path / "none.json")
    jobs = json.loads(listed.stdout)
    assert [(j["job_name"], j["ps_count"], j["worker_count"], j["job_args"]) for j in jobs] == [
        ("cli-job", 1, 2, ["--steps", "5"])
    ]
    missing = cloudml(["jobs", "describe", "nope"], env, tmp_path / "none.json")
    assert missing.returncode == 1 and "not found" in missing.stderr
    bad = cloudml(
        ["jobs", "submit", "-n", "Bad_Name", "-m", "m", "-u", str(EXAMPLE_TRAINER)],
        env,
        tmp_path / "none.json",
    )
    assert bad.returncode == 1 and "job_name" in bad.stderr


def test_init_writes_a_private_context_and_errors_have_exit_codes(api_server, tenant_factory, tmp_path):
    tenant = tenant_factory(api_server)
    config_path = tmp_path / "config.json"
    unset = {"CLOUDML_ENDPOINT": None, "CLOUDML_ACCESS_KEY": None, "CLOUDML_SECRET_KEY": None}
    assert cloudml(["quota", "list"], unset, config_path).returncode == 2
    init = cloudml(
        [
            "init",
            "--endpoint",
            api_server.url,
            "--access-key",
            tenant.key["access_key"],
            "--secret-key",
            tenant.key["secret_key"],
        ],
        unset,
        config_path,
    )
    assert init.returncode == 0, init.stderr
    assert oct(config_path.stat().st_mode & 0o777) == "0o600"
    who = cloudml(["--json", "org_id"], unset, config_path)
    assert json.loads(who.stdout)["org_id"] == tenant.org_id
    down = cloudml(["org_id"], {"CLOUDML_ENDPOINT": "http://127.0.0.1:9"}, config_path)
    assert down.returncode == 3
