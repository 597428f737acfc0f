"""`cloudml`: the seed SDK's commands and flags over CloudMLClient. Exit codes: 0 ok, 1 the API refused,
2 usage or configuration error, 3 the server is unreachable or failed."""

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from platform_services.cli import config
from platform_services.sdk import CloudMLClient, CloudMLError, ServerError

app = typer.Typer(help="Submit and manage training jobs on the GPU platform.", no_args_is_help=True)
jobs = typer.Typer(help="Train jobs.", no_args_is_help=True)
quota = typer.Typer(help="Quota.", no_args_is_help=True)
framework = typer.Typer(help="Frameworks the platform offers.", no_args_is_help=True)
admin = typer.Typer(help="Admin: orgs, keys, quotas (needs an admin key).", no_args_is_help=True)
for sub, name in ((jobs, "jobs"), (quota, "quota"), (framework, "framework"), (admin, "admin")):
    app.add_typer(sub, name=name)
out = Console()
err = Console(stderr=True)
state = {"json": False, "context": None}

JOB_COLUMNS = (
    "job_name",
    "state",
    "ps_count",
    "worker_count",
    "cpu_limit",
    "memory_limit",
    "gpu_limit",
    "pending_reason",
)


@app.callback()
def main(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    context: Annotated[str | None, typer.Option("--context", help="config context to use")] = None,
):
    state["json"] = as_json
    state["context"] = context


def client() -> CloudMLClient:
    try:
        c = config.resolve(state["context"])
    except config.ConfigError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from None
    return CloudMLClient(c["endpoint"], c["access_key"], c["secret_key"], region=c["region"])


def call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except ServerError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(3) from None
    except CloudMLError as exc:
        err.print(f"error: {exc.message}" + (f" (field: {exc.field})" if exc.field else ""))
        raise typer.Exit(1) from None


def show(data, columns: tuple[str, ...] | None = None) -> None:
    if state["json"]:
        out.print_json(json.dumps(data))
        return
    rows = data if isinstance(data, list) else [data]
    columns = columns or tuple(rows[0]) if rows else columns or ()
    if isinstance(data, dict):
        table = Table("field", "value")
        for key, value in data.items():
            table.add_row(key, "" if value is None else str(value))
    else:
        table = Table(*columns)
        for row in rows:
            table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    out.print(table)


@app.command()
def init(
    endpoint: Annotated[str, typer.Option(prompt=True)],
    access_key: Annotated[str, typer.Option(prompt=True)],
    secret_key: Annotated[str, typer.Option(prompt=True, hide_input=True)],
    region: str = "local",
    name: Annotated[str, typer.Option("--name", help="context name")] = "default",
):
    """Write a context to the config file and make it current."""
    cfg = config.load()
    cfg.setdefault("contexts", {})[name] = {
        "endpoint": endpoint,
        "access_key": access_key,
        "secret_key": secret_key,
        "region": region,
    }
    cfg["current"] = name
    err.print(f"wrote context {name!r} to {config.save(cfg)}")


@app.command("org_id")
def org_id():
    """Who am I: the org, access key and role of the configured key."""
    show(call(client().get_org_id))


@jobs.command("submit")
def submit(
    job_name: Annotated[str, typer.Option("-n", "--job_name")],
    module_name: Annotated[str, typer.Option("-m", "--module_name")],
    trainer_uri: Annotated[str, typer.Option("-u", "--trainer_uri")],
    job_args: Annotated[str | None, typer.Option("-a", "--job_args")] = None,
    cpu_limit: Annotated[str | None, typer.Option("-c", "--cpu_limit")] = None,
    memory_limit: Annotated[str | None, typer.Option("-M", "--memory_limit")] = None,
    gpu_limit: Annotated[int | None, typer.Option("-g", "--gpu_limit")] = None,
    ps_count: Annotated[int | None, typer.Option("-p", "--ps_count")] = None,
    worker_count: Annotated[int | None, typer.Option("-w", "--worker_count")] = None,
    framework_name: Annotated[str | None, typer.Option("-F", "--framework")] = None,
    framework_version: Annotated[str | None, typer.Option("-V", "--framework_version")] = None,
    docker_image: Annotated[str | None, typer.Option("-d", "--docker_image")] = None,
    docker_command: Annotated[str | None, typer.Option("-dc", "--docker_command")] = None,
    prepare_command: Annotated[str | None, typer.Option("-pc", "--prepare_command")] = None,
    finish_command: Annotated[str | None, typer.Option("-fc", "--finish_command")] = None,
    node_selector_key: Annotated[str | None, typer.Option("-nsk", "--node_selector_key")] = None,
    node_selector_value: Annotated[str | None, typer.Option("-nsv", "--node_selector_value")] = None,
    client_request_id: Annotated[str | None, typer.Option("--client_request_id")] = None,
    reject_if_over_quota: Annotated[bool, typer.Option("--reject_if_over_quota")] = False,
):
    """Submit a train job."""
    spec = {k: v for k, v in locals().items() if v is not None and v is not False}
    if "framework_name" in spec:
        spec["framework"] = spec.pop("framework_name")
    show(call(client().submit_train_job, spec), JOB_COLUMNS)


@jobs.command("list")
def list_jobs(
    org: Annotated[str | None, typer.Option("--org_id", help="admin: an org, or -1 for all")] = None,
):
    show(call(client().list_train_jobs, org), ("org_id", *JOB_COLUMNS) if org else JOB_COLUMNS)


@jobs.command("describe")
def describe(job_name: str):
    show(call(client().describe_train_job, job_name))


@jobs.command("events")
def events(job_name: str):
    show(call(client().get_train_job_events, job_name), ("time", "type", "message"))


@jobs.command("logs")
def logs(
    job_name: str,
    follow: Annotated[bool, typer.Option("-f", "--follow")] = False,
    lines: Annotated[int | None, typer.Option("-n", "--lines")] = None,
    replica: Annotated[str | None, typer.Option("-r", "--replica", help="e.g. worker-1")] = None,
):
    c = client()
    if follow:
        call(_stream, c.follow_train_job_logs(job_name, lines, replica))
        return
    sys.stdout.write(call(c.get_train_job_logs, job_name, lines, replica))


@jobs.command("delete")
def delete(job_name: str):
    show(call(client().delete_train_job, job_name))


@quota.command("list")
def quota_list(org: Annotated[str | None, typer.Option("--org_id")] = None):
    show(call(client().get_quota, org))


@framework.command("list")
def framework_list():
    show(call(client().list_frameworks), ("framework", "versions"))


@admin.command("org-create")
def org_create(org: str, quota_pairs: Annotated[list[str] | None, typer.Argument(help="NAME=VALUE")] = None):
    show(call(client().create_org, org, _pairs(quota_pairs)))


@admin.command("org-list")
def org_list():
    show(call(client().list_orgs), ("org_id", "created_at"))


@admin.command("key-create")
def key_create(org: str, role: str = "user", galaxy_v3: bool = False):
    """Create a key; its secret is shown once."""
    show(call(client().create_key, org, role, galaxy_v3))


@admin.command("key-list")
def key_list(org: Annotated[str | None, typer.Option("--org_id")] = None):
    show(call(client().list_keys, org), ("access_key", "org_id", "role", "enabled", "galaxy_v3"))


@admin.command("key-disable")
def key_disable(access_key: str):
    show(call(client().update_key, access_key, enabled=False))


@admin.command("key-enable")
def key_enable(access_key: str):
    show(call(client().update_key, access_key, enabled=True))


@admin.command("key-rotate")
def key_rotate(access_key: str):
    """A new secret (shown once); the old one stops working at once."""
    show(call(client().rotate_key, access_key))


@admin.command("quota-set")
def quota_set(org: str, pairs: Annotated[list[str], typer.Argument(help="e.g. train_gpu_quota=8")]):
    show(call(client().update_quota, org, _pairs(pairs)))


def _stream(chunks) -> None:
    for chunk in chunks:
        sys.stdout.write(chunk)
        sys.stdout.flush()


def _pairs(pairs: list[str] | None) -> dict:
    result = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep:
            err.print(f"error: {pair!r} is not NAME=VALUE")
            raise typer.Exit(2)
        result[name] = int(value) if value.lstrip("-").isdigit() else value
    return result


if __name__ == "__main__":
    app()
