"""Verdict, exit code and report fields of a run."""

from __future__ import annotations

import json

import pytest

from smoke_tests.report import Row, Run


def row(
    status: str, host: str | None = "node1", check: str = "containerd.service_active", message: str = ""
) -> Row:
    return Row(stack="lab", check=check, host=host, status=status, message=message, duration=0.01)


@pytest.mark.parametrize(
    ("statuses", "code"),
    [
        (["passed", "passed"], 0),
        (["passed", "skipped"], 0),
        (["passed", "failed", "skipped"], 1),
        (["passed", "unreachable"], 2),
        (["passed", "error"], 2),
        (["failed", "unreachable"], 2),  # an incomplete verdict wins over a failed check
        (["skipped"], 2),  # nothing was checked: not a pass
        ([], 2),
    ],
)
def test_exit_code(statuses, code):
    run = Run(stack="lab", inventory="inv.yml", rows=[row(s) for s in statuses])
    assert run.exit_code() == code


def test_environment_problem_is_exit_2_even_with_passes():
    run = Run(stack="lab", inventory=None, rows=[row("passed")], problems=["the lab is not up"])
    assert run.exit_code() == 2
    assert run.verdict() == "CANNOT CHECK: the lab is not up"


def test_json_fields(tmp_path):
    rows = [row("passed", host="node2"), row("failed", message="node1: containerd.service is inactive")]
    path = tmp_path / "sub" / "r.json"
    Run(stack="lab", inventory="inv.yml", rows=rows).write_json(path)
    document = json.loads(path.read_text())
    assert document["stack"] == "lab" and document["exit_code"] == 1
    assert document["counts"] == {"passed": 1, "failed": 1, "skipped": 0, "unreachable": 0, "error": 0}
    assert [r["host"] for r in document["results"]] == ["node1", "node2"]  # stable order: host, check
    assert set(document["results"][0]) == {"stack", "check", "host", "status", "message", "duration"}


def test_summary_names_failures_and_collapses_an_unreachable_host():
    rows = [
        row("failed", host="node2", message="node2: containerd.service is inactive (dead), want active"),
        row("passed", host="node1"),
    ]
    rows += [
        row("unreachable", host="node3", check=f"common.c{i}", message="node3: unreachable: refused")
        for i in range(5)
    ]
    text = Run(stack="lab", inventory="inv.yml", rows=rows).render_summary(width=100, color=False)
    assert "FAILED      node2  containerd.service_active" in text
    assert "node2: containerd.service is inactive (dead), want active" in text
    assert text.count("UNREACHABLE") == 1 and "node3  5 checks not run" in text
    assert "node1  containerd" not in text  # silent passes are not listed
    assert "CANNOT CHECK: unreachable: node3; 1 checks failed" in text
