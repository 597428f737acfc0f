"""`platformctl`: the operator's entry point. Commands are thin; the work lives in the modules they call."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from platformctl.lab import config as lab_config
from platformctl.lab import manager as lab_manager
from platformctl.lab import nodes as lab_nodes
from platformctl.lab.shell import LabError

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
def lab_up(nodes: Annotated[int, typer.Option(help="Number of nodes.")] = lab_config.DEFAULT_NODES,
           lab_id: LabIdOption = None) -> None:
    """Create (or resume) the lab and wait until every node answers SSH."""
    try:
        with console.status("bringing the lab up"):
            report = lab_manager.up(nodes, lab_id, progress=_progress)
    except LabError as exc:
        raise _fail(exc) from exc
    console.print(f"[green]lab {report.lab.lab_id} up[/]: {report.lab.nodes} nodes SSH-ready in "
                  f"{report.ssh_ready_s:.1f} s (total {report.total_s:.1f} s"
                  + (f", base image built in {report.base_build_s:.0f} s" if report.base_build_s else "")
                  + f"); inventory {report.lab.inventory_path}")


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
        table.add_row(state.name, state.address, "running" if state.running else "[red]stopped[/]",
                      str(state.pid or "-"))
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


def main() -> None:
    app()
