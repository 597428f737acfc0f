"""smoke_tests/gpu over a local connection (how they run on a real GPU host): on this machine, which has no
NVIDIA device, every check skips and says why; none fails or errors."""

from __future__ import annotations

from tests.smoke_tests.conftest import LOCAL, write_inventory


def test_gpu_checks_skip_with_reasons_without_nvidia_devices(run_smoke, tmp_path):
    inventory = write_inventory(tmp_path / "inv.yml", {"local": dict(LOCAL)}, {"gpu_nodes": ["local"]})
    run = run_smoke(
        "--stack", "unit", f"--ansible-inventory={inventory}", "-k", "gpu", paths=("smoke_tests/gpu",)
    )
    rows = run.report["results"]
    assert len(rows) >= 9 and {r["host"] for r in rows} == {"local"}, rows
    not_skipped = [r for r in rows if r["status"] != "skipped"]
    assert not not_skipped, not_skipped
    for row in rows:
        assert "no NVIDIA GPU on the PCI bus" in row["message"], row  # the reason, not a bare skip
