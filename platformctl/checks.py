"""The project's own quality gate: linters, then pytest (unit and lab end-to-end tests)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from platformctl.paths import REPO_ROOT

VENV_BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Linter:
    name: str
    argv: list[str]


def _tracked(*patterns: str) -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", *patterns],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line for line in out.splitlines() if (REPO_ROOT / line).exists()]


def shell_scripts() -> list[str]:
    """Every tracked shell script: *.sh files plus extension-less scripts with a shell shebang."""
    scripts = []
    for path in _tracked():
        full = REPO_ROOT / path
        if path.endswith(".sh"):
            scripts.append(path)
        elif full.is_file() and "." not in full.name:
            with open(full, "rb") as handle:
                first = handle.readline()
            if first.startswith(b"#!") and (b"bash" in first or b"/sh" in first):
                scripts.append(path)
    return scripts


def linters() -> list[Linter]:
    found = [
        Linter("ruff", [str(VENV_BIN / "ruff"), "check", "."]),
        Linter("ruff format", [str(VENV_BIN / "ruff"), "format", "--check", "."]),
        Linter("yamllint", [str(VENV_BIN / "yamllint"), "--strict", "."]),
        Linter("ansible-lint", [str(VENV_BIN / "ansible-lint"), "--profile", "production", "playbooks/"]),
    ]
    scripts = shell_scripts()
    if scripts:
        found.append(Linter("shellcheck", [str(VENV_BIN / "shellcheck"), *scripts]))
    dockerfiles = _tracked("*Dockerfile*")
    if dockerfiles:
        found.append(Linter("hadolint", [str(VENV_BIN / "hadolint"), *dockerfiles]))
    return found


def run_linters(report: Callable[[str, bool, str], None]) -> bool:
    """Run every linter; report(name, passed, output) for each; True when all pass. A linter with nothing
    to check (no Dockerfile yet) is reported as such, not as a pass."""
    all_ok = True
    found = linters()
    if not any(linter.name == "hadolint" for linter in found):
        print("SKIP hadolint: no Dockerfile in the repository yet", flush=True)
    for linter in found:
        proc = subprocess.run(
            linter.argv, cwd=REPO_ROOT, capture_output=True, text=True, check=False, env=_lint_env()
        )
        passed = proc.returncode == 0
        all_ok &= passed
        report(linter.name, passed, (proc.stdout + proc.stderr).strip())
    return all_ok


def _lint_env() -> dict[str, str]:
    import os

    return {
        **os.environ,
        "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}",
        "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"),
    }


def run_pytest(extra: list[str]) -> int:
    """pytest over tests/ with its closing summary line printed, as CI reads it."""
    return subprocess.call([sys.executable, "-m", "pytest", *extra], cwd=REPO_ROOT, env=_lint_env())
