"""The real check modules against this machine (ansible_connection: local): selection by group and checks
that decide (pass or fail) rather than crash."""

from __future__ import annotations

from tests.smoke_tests.conftest import LOCAL, write_inventory


def test_real_checks_select_by_group_and_decide(run_smoke, tmp_path):
    # This machine is in `all` only: the common checks run on it, the k8s_cluster checks have no host.
    inventory = write_inventory(tmp_path / "inv.yml", {"local": dict(LOCAL)}, {"k8s_cluster": []})
    run = run_smoke("--stack", "unit", f"--ansible-inventory={inventory}", paths=("smoke_tests",))
    common = [r for r in run.report["results"] if r["check"].startswith("common.")]
    containerd = [r for r in run.report["results"] if r["check"].startswith("containerd.")]
    assert len(common) >= 8 and {r["host"] for r in common} == {"local"}
    errors = [r for r in common if r["status"] not in ("passed", "failed", "skipped")]
    assert not errors, errors
    assert containerd, "the containerd checks were not collected"
    for row in containerd:
        assert (row["host"], row["status"]) == (None, "skipped"), row
        assert "group k8s_cluster has no hosts in stack unit" in row["message"]
    assert run.rc in (0, 1) and run.rc == run.report["exit_code"], run.output
