"""`platformctl`: the operator's entry point. Commands are thin; the work lives in the modules they call."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from platformctl import checks
from platformctl import provision as provision_mod
from platformctl.lab import config as lab_config
from platformctl.lab import manager as lab_manager
from platformctl.lab import nodes as lab_nodes
from platformctl.lab.shell import LabError
from platformctl.stacks import LAB_STACK, StackError

app = typer.Typer(help="Stand up and check the GPU platform.", no_args_is_help=True)
lab_app = typer.Typer(help="The local lab: a virtual cluster of real systemd hosts.", no_args_is_help=True)
app.add_typer(lab_app, name="lab")
console = Console(stderr=True)

LabIdOption = Annotated[
    str | None, typer.Option("--lab-id", help="Lab to act on (default: this checkout's).")
]


def _fail(exc: Exception, code: int = 2) -> typer.Exit:
    console.print(f"[bold red]error:[/] {exc}")
    return typer.Exit(code)


def _progress(message: str) -> None:
    console.print(f"[cyan]>[/] {message}")


@lab_app.command("up")
def lab_up(
    nodes: Annotated[int, typer.Option(help="Number of nodes.")] = lab_config.DEFAULT_NODES,
    lab_id: LabIdOption = None,
) -> None:
    """Create (or resume) the lab and wait until every node answers SSH."""
    try:
        with console.status("bringing the lab up"):
            report = lab_manager.up(nodes, lab_id, progress=_progress)
    except LabError as exc:
        raise _fail(exc) from exc
    console.print(
        f"[green]lab {report.lab.lab_id} up[/]: {report.lab.nodes} nodes SSH-ready in "
        f"{report.ssh_ready_s:.1f} s (total {report.total_s:.1f} s"
        + (f", base image built in {report.base_build_s:.0f} s" if report.base_build_s else "")
        + f"); inventory {report.lab.inventory_path}"
    )


@lab_app.command("down")
def lab_down(lab_id: LabIdOption = None) -> None:
    """Stop every node and remove the lab's processes, mounts, namespaces, links and NAT rules."""
    leftovers = lab_manager.down(lab_id, progress=_progress)
    if leftovers:
        for item in leftovers:
            console.print(f"[red]left behind:[/] {item}")
        raise typer.Exit(1)


@lab_app.command("status")
def lab_status(lab_id: LabIdOption = None) -> None:
    """Show the lab's nodes and whether each is running."""
    lab, states = lab_manager.status(lab_id)
    if lab is None:
        console.print("no lab here (run `platformctl lab up`)")
        raise typer.Exit(1)
    table = Table(title=f"lab {lab.lab_id} ({lab.subnet})")
    for column in ("node", "address", "state", "nspawn pid"):
        table.add_column(column)
    for state in states:
        table.add_row(
            state.name,
            state.address,
            "running" if state.running else "[red]stopped[/]",
            str(state.pid or "-"),
        )
    Console().print(table)
    if not all(s.running for s in states):
        raise typer.Exit(1)


@lab_app.command("ssh", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def lab_ssh(ctx: typer.Context, node: str, lab_id: LabIdOption = None) -> None:
    """Open a shell on NODE (extra arguments run as a command there)."""
    try:
        lab = lab_manager.require(lab_id)
        cmd = lab_nodes.ssh_command(lab, node, *ctx.args)
    except LabError as exc:
        raise _fail(exc) from exc
    sys.stdout.flush()
    os.execvp(cmd[0], cmd)


StackOption = Annotated[str, typer.Option("--stack", help="Stack: lab, staging or production.")]


@app.command("provision")
def provision(
    stack: StackOption = "lab",
    playbook: Annotated[str, typer.Option(help="Playbook under playbooks/.")] = "site.yml",
    limit: Annotated[str | None, typer.Option(help="Ansible --limit pattern.")] = None,
    check: Annotated[bool, typer.Option(help="Dry run (--check --diff).")] = False,
    verbose: Annotated[bool, typer.Option(help="Stream all of Ansible's output.")] = False,
) -> None:
    """Run a playbook against the stack's inventory; exit 1 when any host failed."""
    result = _run_playbook(stack, playbook, limit=limit, check=check, verbose=verbose)
    if not result.ok:
        raise typer.Exit(1)


def _run_playbook(
    stack: str, playbook: str, *, limit: str | None = None, check: bool = False, verbose: bool = False
) -> provision_mod.PlaybookResult:
    def show(line: str) -> None:
        if verbose:
            console.print(line, markup=False, highlight=False)
        elif match := provision_mod.TASK_LINE.match(line):
            status.update(f"{playbook}: {match['name']}")

    try:
        with console.status(f"{playbook}: starting") as status:
            result = provision_mod.run_playbook(stack, playbook, limit=limit, check=check, on_line=show)
    except StackError as exc:
        raise _fail(exc) from exc
    verdict = "[green]ok[/]" if result.ok else f"[red]failed on {', '.join(result.failed_hosts) or '?'}[/]"
    console.print(
        f"{playbook} on {stack}: {verdict} in {result.duration_s:.1f} s, changed={result.changed} "
        f"({len(result.recap)} hosts; log {result.log_path})"
    )
    return result


@app.command("test", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def test(
    ctx: typer.Context, lint: Annotated[bool, typer.Option(help="Run the linters first.")] = True
) -> None:
    """The project's tests: linters (ruff, yamllint, ansible-lint, shellcheck, hadolint), then pytest
    (extra arguments go to pytest)."""
    lint_ok = True
    if lint:

        def report(name: str, passed: bool, output: str) -> None:
            console.print(f"{'[green]PASS' if passed else '[red]FAIL'}[/] {name}")
            if not passed:
                console.print(output, markup=False, highlight=False)

        lint_ok = checks.run_linters(report)
    code = checks.run_pytest(list(ctx.args))
    if not lint_ok:
        console.print("[red]lint failed[/] (see above)")
    raise typer.Exit(code or (0 if lint_ok else 1))


@app.command("smoke", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def smoke(
    ctx: typer.Context,
    stack: StackOption = "lab",
    report: Annotated[
        str | None, typer.Option(help="JSON report path (default: reports/smoke-<stack>.json).")
    ] = None,
    workers: Annotated[
        str,
        typer.Option(
            help="0: one process (fastest for small stacks); N or auto (one per host): xdist workers."
        ),
    ] = "0",
) -> None:
    """Check the stack's hosts: exit 0 all passed, 1 a check failed, 2 the stack could not be checked
    (extra arguments go to pytest). See smoke_tests/README.md."""
    from smoke_tests import runner  # pytest is imported only when the suite runs

    raise typer.Exit(runner.run(stack, report=report, workers=workers, extra=list(ctx.args)))


@app.command("demo")
def demo(nodes: Annotated[int, typer.Option(help="Lab nodes.")] = lab_config.DEFAULT_NODES) -> None:
    """The main job on the embedded default stack: bring up the lab, provision it with site.yml, run the
    smoke suite, print a summary. The lab stays up afterwards (`platformctl lab down` removes it)."""
    import time

    from smoke_tests import runner

    steps: list[tuple[str, str, float]] = []
    started = time.monotonic()
    try:
        with console.status("bringing the lab up"):
            report = lab_manager.up(nodes, progress=_progress)
    except LabError as exc:
        raise _fail(exc) from exc
    steps.append((f"lab up ({report.lab.nodes} nodes)", "ok", report.total_s))
    result = _run_playbook(LAB_STACK, "site.yml")
    steps.append(("provision site.yml", "ok" if result.ok else "failed", result.duration_s))
    smoke_code = None
    if result.ok:
        smoke_started = time.monotonic()
        smoke_code = runner.run(LAB_STACK)
        smoke_verdict = {0: "passed", 1: "a check failed"}.get(smoke_code, "could not check")
        steps.append(("smoke suite", smoke_verdict, time.monotonic() - smoke_started))
    table = Table(title=f"demo on lab {report.lab.lab_id} ({report.lab.subnet})")
    for column in ("step", "result", "seconds"):
        table.add_column(column)
    for name, verdict, seconds in steps:
        color = "green" if verdict in ("ok", "passed") else "red"
        table.add_row(name, f"[{color}]{verdict}[/]", f"{seconds:.1f}")
    table.add_row("total", "", f"{time.monotonic() - started:.1f}")
    Console().print(table)
    console.print(
        f"inventory: {report.lab.inventory_path}; smoke report: reports/smoke-lab.json; "
        "ansible log: reports/; tear down with `./platform lab down`"
    )
    if not result.ok:
        raise typer.Exit(1)
    raise typer.Exit(smoke_code or 0)


@app.command("up")
def up(
    stack: Annotated[str, typer.Option("--stack", help="Pulumi stack: staging or production.")],
    preview: Annotated[bool, typer.Option(help="Preview only.")] = False,
) -> None:
    """Stand up a stack with the Pulumi program in infra/ (Automation API; needs the Pulumi CLI)."""
    from platformctl import pulumi_up

    try:
        outputs = pulumi_up.up(stack, preview=preview)
    except (pulumi_up.PulumiUnavailable, ValueError) as exc:
        raise _fail(exc) from exc
    for name, value in outputs.items():
        console.print(f"{name}: {value}")


def main() -> None:
    app()
