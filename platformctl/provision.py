"""Running the platform's playbooks against a stack and reading the outcome from Ansible's recap."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from platformctl.paths import PLAYBOOKS_DIR, REPO_ROOT
from platformctl.stacks import inventory_path

RECAP_LINE = re.compile(r"^(?P<host>\S+)\s*:\s*(?P<counts>(?:\w+=\d+\s*)+)$")
TASK_LINE = re.compile(r"^(TASK|PLAY|RUNNING HANDLER) \[(?P<name>.*)\]")


@dataclass
class PlaybookResult:
    playbook: str
    returncode: int
    duration_s: float
    log_path: Path
    recap: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def changed(self) -> int:
        return sum(counts.get("changed", 0) for counts in self.recap.values())

    @property
    def failed_hosts(self) -> list[str]:
        return sorted(h for h, c in self.recap.items() if c.get("failed", 0) or c.get("unreachable", 0))

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.failed_hosts


def parse_recap(output: str) -> dict[str, dict[str, int]]:
    """Per-host counters from the PLAY RECAP block (ok, changed, unreachable, failed, skipped, ...)."""
    recap: dict[str, dict[str, int]] = {}
    in_recap = False
    for line in output.splitlines():
        if line.startswith("PLAY RECAP"):
            in_recap = True
            continue
        if in_recap:
            match = RECAP_LINE.match(line.strip())
            if not match:
                if line.strip():
                    in_recap = False
                continue
            counts = dict(pair.split("=") for pair in match["counts"].split())
            recap[match["host"]] = {key: int(value) for key, value in counts.items()}
    return recap


def ansible_env() -> dict[str, str]:
    venv_bin = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"),
        "ANSIBLE_FORCE_COLOR": "0",
        "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}",
    }


def run_playbook(
    stack: str,
    playbook: str = "site.yml",
    *,
    limit: str | None = None,
    check: bool = False,
    extra_args: list[str] | None = None,
    log_dir: Path | None = None,
    on_line: Callable[[str], None] | None = None,
) -> PlaybookResult:
    """Run one playbook of playbooks/ on the stack; stream lines to on_line and keep a full log."""
    inventory = inventory_path(stack)
    log_dir = log_dir or REPO_ROOT / "reports"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"ansible-{stack}-{Path(playbook).stem}.log"
    cmd = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        "-i",
        str(inventory),
        str(PLAYBOOKS_DIR / playbook),
    ]
    if limit:
        cmd += ["--limit", limit]
    if check:
        cmd += ["--check", "--diff"]
    cmd += extra_args or []
    started = time.monotonic()
    lines: list[str] = []
    with (
        open(log_path, "w") as log,
        subprocess.Popen(
            cmd,
            cwd=REPO_ROOT,
            env=ansible_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        ) as proc,
    ):
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            lines.append(line)
            if on_line:
                on_line(line.rstrip("\n"))
        returncode = proc.wait()
    return PlaybookResult(
        playbook=playbook,
        returncode=returncode,
        duration_s=time.monotonic() - started,
        log_path=log_path,
        recap=parse_recap("".join(lines)),
    )
