"""Run the smoke suite as a real pytest subprocess against inventories written in tmp_path.

Hosts are 127.0.0.1 with `ansible_connection: local` (reachable) or 127.0.0.1 port 1 over SSH (refused at
once: unreachable); no traffic leaves loopback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from platformctl.paths import REPO_ROOT

LOCAL = {
    "ansible_connection": "local",
    "ansible_host": "127.0.0.1",
    "ansible_python_interpreter": sys.executable,
}
UNREACHABLE = {
    "ansible_host": "127.0.0.1",
    "ansible_port": 1,
    "ansible_user": "nobody",
    "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
}


@dataclass
class SmokeRun:
    rc: int
    output: str
    report: dict[str, Any]

    def rows(self, **match: Any) -> list[dict[str, Any]]:
        return [r for r in self.report["results"] if all(r[k] == v for k, v in match.items())]


def write_inventory(path: Path, hosts: dict[str, dict[str, Any]], groups: dict[str, list[str]]) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "hosts": hosts,
                    "children": {
                        group: {"hosts": dict.fromkeys(members)} for group, members in groups.items()
                    },
                }
            }
        )
    )
    return path


@pytest.fixture
def run_smoke(tmp_path: Path) -> Callable[..., SmokeRun]:
    """Run pytest on `paths` with the smoke plugin; return the exit code, the output and the report."""

    def run(*args: str, paths: tuple[str, ...] = (), timeout: int = 120) -> SmokeRun:
        report = tmp_path / "report.json"
        report.unlink(missing_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PLATFORM_LAB_ID"))}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-p",
                "smoke_tests.plugin",
                "-p",
                "no:cacheprovider",
                f"--smoke-report={report}",
                *paths,
                *args,
            ],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        output = proc.stdout + proc.stderr
        assert report.exists(), f"no report written (exit {proc.returncode}):\n{output}"
        return SmokeRun(proc.returncode, output, json.loads(report.read_text()))

    return run
