"""The plugin end to end: selection by group, exit codes 0/1/2, report fields, with and without xdist."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.smoke_tests.conftest import LOCAL, UNREACHABLE, write_inventory

ROW_FIELDS = {"stack", "check", "host", "status", "message", "duration"}

FILES_CHECK = """
import pytest

pytestmark = pytest.mark.smoke(group="all")


def test_marker_present(host, inventory, inventory_hostname):
    path = inventory.hostvars(inventory_hostname)["marker_file"]
    assert host.file(path).exists, f"{path} is missing"
"""

WORKERS_CHECK = """
import pytest

pytestmark = pytest.mark.smoke(group="workers")


def test_runs_on_workers_only(host, inventory_hostname, smoke_note):
    assert host.run("true").rc == 0
    smoke_note(f"checked {inventory_hostname}")
"""

GPU_CHECK = """
import pytest

pytestmark = pytest.mark.smoke(group="gpu_nodes")


def test_never_runs(host):
    raise AssertionError("a check ran on a host outside its group")
"""


@pytest.fixture
def checks(tmp_path: Path) -> Path:
    """Three check directories: one for all hosts, one for group `workers`, one for an empty group."""
    for name, body in (("files", FILES_CHECK), ("workers", WORKERS_CHECK), ("gpu", GPU_CHECK)):
        (tmp_path / "checks" / name).mkdir(parents=True)
        (tmp_path / "checks" / name / f"test_{name}.py").write_text(body)
    return tmp_path / "checks"


@pytest.fixture
def markers(tmp_path: Path) -> dict[str, Path]:
    return {name: tmp_path / f"marker-{name}" for name in ("alpha", "beta")}


def local_inventory(tmp_path: Path, markers: dict[str, Path], **extra_hosts: dict) -> Path:
    hosts = {name: {**LOCAL, "marker_file": str(path)} for name, path in markers.items()}
    return write_inventory(tmp_path / "inventory.yml", {**hosts, **extra_hosts}, {"workers": ["beta"]})


@pytest.mark.parametrize("parallel", [(), ("-n", "2", "--dist", "loadgroup")], ids=["serial", "xdist"])
def test_all_pass_exit_0(run_smoke, checks, tmp_path, markers, parallel):
    for path in markers.values():
        path.touch()
    inventory = local_inventory(tmp_path, markers)
    run = run_smoke("--stack", "unit", f"--ansible-inventory={inventory}", *parallel, paths=(str(checks),))
    assert run.rc == 0, run.output
    assert run.report["exit_code"] == 0
    assert run.report["stack"] == "unit"
    assert run.report["inventory"] == str(inventory)
    assert all(set(row) == ROW_FIELDS for row in run.report["results"])
    assert {(r["check"], r["host"]) for r in run.rows(status="passed")} == {
        ("files.marker_present", "alpha"),
        ("files.marker_present", "beta"),
        ("workers.runs_on_workers_only", "beta"),
    }
    assert run.rows(check="workers.runs_on_workers_only")[0]["message"] == "beta: checked beta"
    # A group without hosts is reported as skipped with the reason, never as a pass.
    (gpu,) = run.rows(check="gpu.never_runs")
    assert (gpu["status"], gpu["host"]) == ("skipped", None)
    assert "gpu_nodes has no hosts" in gpu["message"]
    assert "PASS: 3 checks passed on 2 hosts" in run.output


@pytest.mark.parametrize("parallel", [(), ("-n", "2", "--dist", "loadgroup")], ids=["serial", "xdist"])
def test_one_failure_exit_1_names_host_and_fact(run_smoke, checks, tmp_path, markers, parallel):
    markers["alpha"].touch()  # beta's marker is missing
    inventory = local_inventory(tmp_path, markers)
    run = run_smoke("--stack", "unit", f"--ansible-inventory={inventory}", *parallel, paths=(str(checks),))
    assert run.rc == 1, run.output
    assert run.report["exit_code"] == 1
    (failed,) = run.rows(status="failed")
    assert (failed["check"], failed["host"]) == ("files.marker_present", "beta")
    assert failed["message"] == f"beta: {markers['beta']} is missing"
    assert failed["duration"] >= 0
    assert run.report["counts"]["failed"] == 1 and run.report["counts"]["passed"] == 2
    assert "FAIL: 1 of 3 checks failed" in run.output


def test_unreachable_host_exit_2_and_no_check_passes_there(run_smoke, checks, tmp_path, markers):
    for path in markers.values():
        path.touch()
    # A check that never runs a command on its host must not pass there either.
    (checks / "names").mkdir()
    (checks / "names" / "test_names.py").write_text(
        'import pytest\n\npytestmark = pytest.mark.smoke(group="all")\n\n\n'
        "def test_has_a_name(inventory_hostname):\n    assert inventory_hostname\n"
    )
    inventory = local_inventory(tmp_path, markers, gamma={**UNREACHABLE, "marker_file": "/"})
    run = run_smoke("--stack", "unit", f"--ansible-inventory={inventory}", paths=(str(checks),))
    assert run.rc == 2, run.output
    gamma = {r["check"]: r for r in run.rows(host="gamma")}
    assert set(gamma) == {"files.marker_present", "names.has_a_name"}  # "/" exists: it must not pass
    assert {r["status"] for r in gamma.values()} == {"unreachable"}
    assert (
        gamma["files.marker_present"]["message"]
        == "gamma: unreachable: ssh: connect to host 127.0.0.1 port 1: Connection refused"
    )
    assert {r["host"] for r in run.rows(status="passed")} == {"alpha", "beta"}
    assert "unreachable: gamma" in run.report["verdict"]


def test_failure_and_unreachable_together_exit_2(run_smoke, checks, tmp_path, markers):
    inventory = local_inventory(tmp_path, markers, gamma={**UNREACHABLE, "marker_file": "/"})
    run = run_smoke("--stack", "unit", f"--ansible-inventory={inventory}", paths=(str(checks),))
    assert run.rc == 2, run.output
    assert len(run.rows(status="failed")) == 2
    assert "2 checks failed" in run.report["verdict"]


def test_check_without_group_is_an_error_exit_2(run_smoke, tmp_path, markers):
    (tmp_path / "checks" / "nogroup").mkdir(parents=True)
    (tmp_path / "checks" / "nogroup" / "test_nogroup.py").write_text("def test_x():\n    pass\n")
    inventory = local_inventory(tmp_path, markers)
    run = run_smoke("--stack", "unit", f"--ansible-inventory={inventory}", paths=(str(tmp_path / "checks"),))
    assert run.rc == 2, run.output
    (row,) = run.report["results"]
    assert row["status"] == "error"
    assert "does not say which hosts it checks" in row["message"]


def test_unknown_stack_exit_2(run_smoke):
    run = run_smoke("--stack", "no-such-stack", paths=("smoke_tests",))
    assert run.rc == 2, run.output
    assert run.report["results"] == []
    assert "unknown stack 'no-such-stack'" in run.report["problems"][0]
    assert run.report["verdict"].startswith("CANNOT CHECK")


def test_missing_stack_exit_2(run_smoke):
    run = run_smoke(paths=("smoke_tests",))
    assert run.rc == 2, run.output
    assert "pass --stack NAME" in run.report["problems"][0]


def test_unparsable_inventory_exit_2(run_smoke, tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("all: [this is not an inventory\n")
    run = run_smoke("--stack", "unit", f"--ansible-inventory={bad}", paths=("smoke_tests",))
    assert run.rc == 2, run.output
    assert "lists no hosts" in run.report["problems"][0] or "could not read" in run.report["problems"][0]


def test_check_that_cannot_set_up_is_an_error_exit_2(run_smoke, tmp_path, markers):
    for path in markers.values():
        path.touch()
    (tmp_path / "checks" / "norole").mkdir(parents=True)
    (tmp_path / "checks" / "norole" / "test_norole.py").write_text(
        'import pytest\n\npytestmark = pytest.mark.smoke(group="workers")\n\n\n'
        "def test_reads_vars(role_vars):\n    pass\n"
    )
    inventory = local_inventory(tmp_path, markers)
    run = run_smoke("--stack", "unit", f"--ansible-inventory={inventory}", paths=(str(tmp_path / "checks"),))
    assert run.rc == 2, run.output
    (row,) = run.report["results"]
    assert (row["check"], row["host"], row["status"]) == ("norole.reads_vars", "beta", "error")
    assert "marker names no role" in row["message"]


def test_hung_check_is_stopped_and_is_an_error_exit_2(run_smoke, tmp_path, markers):
    (tmp_path / "checks" / "slow").mkdir(parents=True)
    (tmp_path / "checks" / "slow" / "test_slow.py").write_text(
        'import pytest\n\npytestmark = pytest.mark.smoke(group="workers")\n\n\n'
        "def test_hangs(host):\n    host.run('sleep 5')\n"
    )
    inventory = local_inventory(tmp_path, markers)
    run = run_smoke(
        "--stack",
        "unit",
        f"--ansible-inventory={inventory}",
        "--smoke-check-timeout=1",
        paths=(str(tmp_path / "checks"),),
    )
    assert run.rc == 2, run.output
    (row,) = run.report["results"]
    assert (row["host"], row["status"]) == ("beta", "error")
    assert row["message"] == "beta: the check did not finish within 1 s"
    assert row["duration"] < 4
