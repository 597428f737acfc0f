"""`platformctl up`: the Pulumi CLI is absent on these machines, so the missing-CLI path is tested for real
and the Automation API run itself is skipped, saying why, unless `pulumi` is on PATH."""

from __future__ import annotations

import shutil

import pytest
from typer.testing import CliRunner

from platformctl import pulumi_up
from platformctl.cli import app


def test_missing_cli_is_reported_with_the_install_hint(monkeypatch):
    monkeypatch.setattr(pulumi_up.shutil, "which", lambda name: None)
    result = CliRunner().invoke(app, ["up", "--stack", "staging"])
    assert result.exit_code == 2
    assert "Pulumi CLI is not installed" in result.output and "get.pulumi.com" in result.output


def test_unknown_stack_is_refused():
    result = CliRunner().invoke(app, ["up", "--stack", "lab"])
    assert result.exit_code == 2 and "unknown stack 'lab'" in result.output


@pytest.mark.skipif(shutil.which("pulumi") is None, reason="the Pulumi CLI is not installed on this machine")
def test_preview_runs_through_the_automation_api():
    pulumi_up.up("staging", preview=True)
