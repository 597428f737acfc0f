"""Running host commands with errors that say what failed and how to fix it."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence


class LabError(RuntimeError):
    """A lab operation failed; the message names the step and, where known, the fix."""


def run(
    cmd: Sequence[str], *, check: bool = True, input_text: str | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run a command, capture its output, and raise LabError with stderr when it fails."""
    try:
        proc = subprocess.run(
            list(cmd), capture_output=True, text=True, input=input_text, timeout=timeout, check=False
        )
    except FileNotFoundError as exc:
        raise LabError(f"{cmd[0]}: command not found (run `platformctl lab prereqs --install`)") from exc
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"{' '.join(cmd)}: timed out after {timeout:.0f} s") from exc
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()
        raise LabError(f"{' '.join(cmd)} exited {proc.returncode}: {detail}")
    return proc


def succeeds(cmd: Sequence[str]) -> bool:
    """True when the command runs and exits 0 (used for existence probes)."""
    try:
        return subprocess.run(list(cmd), capture_output=True, check=False, timeout=60).returncode == 0
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return False
