"""Roles `nvidia_driver` and `nvidia_container_toolkit` on GPU nodes: driver, GPUs, runtime, CUDA.

Every check that needs an NVIDIA device skips, saying so, on a host whose PCI bus has none (the lab); the
checks run unchanged on a real GPU host, including over a local connection
(`localhost ansible_connection=local` in group gpu_nodes). The Kubernetes check skips where kubectl or the
kubelet's kubeconfig is absent.
"""

from __future__ import annotations

import importlib.util
import json
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
from testinfra.host import Host

from smoke_tests import facts
from smoke_tests.rolevars import RoleVars

pytestmark = pytest.mark.smoke(group="gpu_nodes", role="nvidia_driver")

ROOT = Path(__file__).resolve().parents[2]
PERSISTENCED = "nvidia-persistenced.service"
RUNTIME = "nvidia"  # nvidia_container_toolkit_runtime_name's default and the RuntimeClass handler
KUBELET_KUBECONFIG = "/etc/kubernetes/kubelet.conf"  # kubeadm's; the kubelet may read its own Node
SMI_TIMEOUT_S = 30
NO_DATA = ("No retired pages", "N/A", "Not Supported")  # nvidia-smi's ways of saying "nothing to report"
CUDA_TIMEOUT_S = 120
# PCI functions as `lspci -Dnmm` prints them, read from sysfs so the check needs no pciutils.
PCI_FROM_SYSFS = (
    'for d in /sys/bus/pci/devices/*; do printf \'%s "%s" "%s" "%s"\\n\' "${d##*/}" '
    '"$(cut -c3-6 "$d/class")" "$(cut -c3- "$d/vendor")" "$(cut -c3- "$d/device")"; done'
)


def _load_pci_filter() -> ModuleType:
    path = ROOT / "playbooks/roles/nvidia_driver/filter_plugins/nvidia_pci.py"
    spec = importlib.util.spec_from_file_location("nvidia_pci", path)
    assert spec and spec.loader, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


nvidia_pci = _load_pci_filter()


@pytest.fixture(scope="module")
def pci_gpus(host: Host) -> list[dict[str, str]]:
    return nvidia_pci.nvidia_pci_gpus(host.run(PCI_FROM_SYSFS).stdout)


@pytest.fixture
def gpus(pci_gpus: list[dict[str, str]]) -> list[dict[str, str]]:
    if not pci_gpus:
        pytest.skip("no NVIDIA GPU on the PCI bus (vendor 10de, display class 03xx): nothing to check")
    return pci_gpus


@pytest.fixture(scope="module")
def smi(host: Host) -> dict[str, object]:
    """nvidia-smi's per-GPU index, driver version and UUID, or the error that stopped it."""
    out = host.run(
        f"timeout {SMI_TIMEOUT_S} nvidia-smi --query-gpu=index,driver_version,uuid --format=csv,noheader"
    )
    if out.rc != 0:
        return {"error": (out.stderr.strip() or out.stdout.strip() or f"exit {out.rc}").splitlines()[-1]}
    rows = [[field.strip() for field in line.split(",")] for line in out.stdout.splitlines() if line.strip()]
    return {"rows": rows}


@pytest.fixture
def smi_rows(gpus, smi: dict[str, object]) -> list[list[str]]:
    if "error" in smi:
        pytest.skip(f"nvidia-smi does not run (see gpu.nvidia_smi_sees_every_gpu): {smi['error']}")
    return smi["rows"]  # type: ignore[return-value]


def test_driver_modules_loaded(host: Host, gpus, role_vars: RoleVars) -> None:
    loaded = {line.split()[0] for line in host.file("/proc/modules").content_string.splitlines() if line}
    missing = [m for m in role_vars["nvidia_driver_modules"] if m not in loaded]
    assert not missing, f"kernel modules not loaded: {', '.join(missing)} (nvidia_driver_modules)"


def test_nvidia_smi_sees_every_gpu(gpus, smi: dict[str, object]) -> None:
    assert "error" not in smi, f"nvidia-smi fails: {smi.get('error')}"
    rows = smi["rows"]
    assert len(rows) == len(gpus), (
        f"nvidia-smi lists {len(rows)} GPU(s), the PCI bus has {len(gpus)}: "
        f"{', '.join(g['address'] for g in gpus)}"
    )


def test_driver_version_matches_pinned_branch(smi_rows: list[list[str]], role_vars: RoleVars) -> None:
    versions = sorted({row[1] for row in smi_rows})
    branch = str(role_vars["nvidia_driver_branch"])
    assert len(versions) == 1 and versions[0].split(".")[0] == branch, (
        f"driver version {', '.join(versions)}, want branch {branch} (nvidia_driver_branch)"
    )


def test_persistenced_active(host: Host, gpus) -> None:
    state = facts.unit_state(host, PERSISTENCED)
    assert state["ActiveState"] == "active", f"{PERSISTENCED} is {facts.describe_unit(state)}, want active"


def test_no_retired_pages_or_remap_failures(host: Host, smi_rows) -> None:
    """Pending page retirements (pre-Ampere) or row remaps (Ampere and later) mean the GPU needs a reset."""
    problems = []
    pages = host.run(
        f"timeout {SMI_TIMEOUT_S} nvidia-smi "
        "--query-retired-pages=gpu_uuid,retired_pages.address,"
        "retired_pages.cause --format=csv,noheader"
    )
    if pages.rc == 0:
        problems += [
            f"retired page {line.strip()}"
            for line in pages.stdout.splitlines()
            if line.strip() and not any(word in line for word in NO_DATA)
        ]
    remap = host.run(
        f"timeout {SMI_TIMEOUT_S} nvidia-smi "
        "--query-remapped-rows=gpu_uuid,remapped_rows.pending,"
        "remapped_rows.failure --format=csv,noheader"
    )
    if remap.rc == 0:
        for line in remap.stdout.splitlines():
            fields = [f.strip() for f in line.split(",")]
            if len(fields) == 3 and any(value in ("Yes", "1") for value in fields[1:]):
                problems.append(f"row remapping pending or failed on {fields[0]}")
    assert not problems, "; ".join(problems)


def test_no_xid_errors(host: Host, gpus) -> None:
    """XID errors in this boot's kernel log (driver-reported GPU faults; a GPU may stay lost after one)."""
    out = host.run("journalctl -k -b --no-pager -o cat 2>/dev/null | grep -a 'NVRM: Xid' | tail -n 5")
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    assert not lines, f"XID errors since boot (last {len(lines)}): {' | '.join(lines)}"


def test_containerd_has_nvidia_runtime(host: Host, pci_gpus, smoke_note) -> None:
    out = host.run("containerd config dump")
    runtimes = {}
    if out.rc == 0:
        cri = tomllib.loads(out.stdout).get("plugins", {}).get("io.containerd.grpc.v1.cri", {})
        runtimes = cri.get("containerd", {}).get("runtimes", {})
    if not pci_gpus and RUNTIME not in runtimes:
        pytest.skip("no NVIDIA GPU on the PCI bus and no nvidia runtime in containerd: nothing to check")
    assert out.rc == 0, f"containerd config dump fails: {out.stderr.strip()[-300:] or f'exit {out.rc}'}"
    assert RUNTIME in runtimes, f"containerd has runtimes {sorted(runtimes)}, want {RUNTIME!r}"
    binary = runtimes[RUNTIME].get("options", {}).get("BinaryName", "")
    assert binary, f"runtime {RUNTIME!r} has no BinaryName: it would run plain runc"
    if not pci_gpus:
        smoke_note(f"no GPU here; runtime {RUNTIME!r} registered with BinaryName {binary}")


def test_cuda_computation(host: Host, smi_rows) -> None:
    source = (Path(__file__).parent / "cuda_compute.py").read_text()
    out = host.run(f"timeout {CUDA_TIMEOUT_S} python3 -c %s", source)
    assert out.stdout.strip(), (
        f"CUDA check did not run (exit {out.rc}): {(out.stderr.strip() or 'no output')[-300:]}"
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["ok"], f"CUDA computation ({result['method']}) failed: {result['detail']}"
    assert out.rc == 0, f"CUDA check reported ok but exited {out.rc}: {out.stderr.strip()[-300:]}"


def test_kubernetes_allocatable_equals_capacity(host: Host, inventory_hostname: str, gpus) -> None:
    """A GPU marked unhealthy (after an XID) leaves allocatable < capacity (k8s-device-plugin#234)."""
    if not host.exists("kubectl") or not host.file(KUBELET_KUBECONFIG).exists:
        pytest.skip(f"not a Kubernetes node here (kubectl or {KUBELET_KUBECONFIG} absent)")
    out = host.run(f'timeout 20 kubectl --kubeconfig {KUBELET_KUBECONFIG} get node "$(hostname)" -o json')
    assert out.rc == 0, f"kubectl get node fails: {out.stderr.strip()[-300:]}"
    status = json.loads(out.stdout)["status"]
    capacity = int(status.get("capacity", {}).get("nvidia.com/gpu", 0))
    allocatable = int(status.get("allocatable", {}).get("nvidia.com/gpu", 0))
    assert capacity == len(gpus) and allocatable == capacity, (
        f"nvidia.com/gpu capacity {capacity}, allocatable {allocatable}, want both {len(gpus)} (PCI count)"
    )
