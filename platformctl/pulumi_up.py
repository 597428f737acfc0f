"""`platformctl up --stack NAME`: the Pulumi program in infra/ through the Automation API (the same as
`pulumi up --stack NAME` in the repository root). The Automation API drives the Pulumi CLI, so its absence
is reported with the install hint instead of a FileNotFoundError traceback."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
STACKS = ("staging", "production")
INSTALL_HINT = (
    "the Pulumi CLI is not installed (the Automation API runs it): install it with "
    "`curl -fsSL https://get.pulumi.com | sh` (https://www.pulumi.com/docs/install/), "
    "then `pulumi login`"
)


class PulumiUnavailable(RuntimeError):
    """The Pulumi CLI cannot be found; the message carries the install hint."""


def require_cli(which: Callable[[str], str | None] = shutil.which) -> str:
    path = which("pulumi")
    if path is None:
        raise PulumiUnavailable(INSTALL_HINT)
    return path


def up(stack: str, *, preview: bool = False, on_output: Callable[[str], None] = print) -> dict:
    """Run `pulumi up` (or preview) for an existing stack of this project; returns the stack outputs."""
    if stack not in STACKS:
        raise ValueError(f"unknown stack {stack!r}: expected one of {', '.join(STACKS)}")
    require_cli()
    from pulumi import automation as auto

    workspace_stack = auto.select_stack(stack_name=stack, work_dir=str(REPO_ROOT))
    if preview:
        workspace_stack.preview(on_output=on_output)
        return {}
    result = workspace_stack.up(on_output=on_output)
    return {name: ("[secret]" if out.secret else out.value) for name, out in result.outputs.items()}
