"""`platformctl smoke`: the command line and its exit codes, through the real console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from platformctl.paths import REPO_ROOT, SMOKE_TESTS_DIR
from smoke_tests.runner import pytest_args

PLATFORMCTL = Path(sys.executable).parent / "platformctl"


def platformctl(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run(
        [str(PLATFORMCTL), *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_unknown_stack_exits_2_with_a_report(tmp_path):
    report = tmp_path / "r.json"
    proc = platformctl("smoke", "--stack", "no-such-stack", "--report", str(report))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "unknown stack 'no-such-stack'" in proc.stdout
    assert json.loads(report.read_text())["exit_code"] == 2


def test_pytest_usage_error_exits_2(tmp_path):
    proc = platformctl(
        "smoke", "--stack", "no-such-stack", "--report", str(tmp_path / "r.json"), "--no-such-pytest-option"
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "unrecognized arguments: --no-such-pytest-option" in proc.stderr


def test_workers_map_to_xdist_per_host_groups():
    assert "-n" not in pytest_args("lab")
    args = pytest_args("lab", workers="auto", extra=["-k", "containerd"])
    assert args[0] == str(SMOKE_TESTS_DIR)
    assert args[args.index("-n") + 1] == "auto" and args[args.index("--dist") + 1] == "loadgroup"
    assert args[-2:] == ["-k", "containerd"]
