"""The GPU node layer (gpu_node.yml) against a real 3-node lab without GPUs: it converges, a second run
changes nothing, the driver role takes its no-GPU path and says so, the nvidia runtime drop-in is present
and accepted by containerd, re-running the containerd role keeps it, the GPU smoke checks skip with
reasons, a driver upgrade refuses GPU-less nodes before cordoning them, and the Kubernetes layer ends with its
reason where the inventory turns it off and passes syntax check and check mode where it is on."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from platformctl import provision
from platformctl.lab import manager, nodes
from platformctl.lab.config import LabConfig
from platformctl.versions import load_pins
from tests.lab.conftest import lab_id

LAB_PURPOSE = "gpu"
PLATFORMCTL = Path(sys.executable).parent / "platformctl"
GPU_NODES = {"node2", "node3"}
DROPIN = "/etc/containerd/conf.d/90-nvidia.toml"
CRI = "io.containerd.grpc.v1.cri"
NO_GPU = "no NVIDIA GPU (PCI vendor 10de, display class 03xx) on the PCI bus"
ALL_NODES = {"node1", "node2", "node3"}
KUBERNETES_ON = ["-e", json.dumps({"kubernetes_enabled": True})]
KUBERNETES_PLAYBOOKS = (
    "site.yml",
    "kubernetes.yml",
    "add_gpu_node.yml",
    "upgrade_gpu_driver.yml",
    "remove_node.yml",
)


class GpuLab:
    def __init__(self, lab: LabConfig, log_dir: Path, first: provision.PlaybookResult):
        self.lab, self.log_dir, self.first = lab, log_dir, first

    def ssh(self, node: str, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            nodes.ssh_command(self.lab, node, command),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def play(self, playbook: str, **kwargs) -> provision.PlaybookResult:
        return provision.run_playbook("lab", playbook, log_dir=self.log_dir, **kwargs)


@pytest.fixture(scope="module")
def gpu_lab(request, tmp_path_factory) -> Iterator[GpuLab]:
    ident = lab_id(LAB_PURPOSE)
    patch = pytest.MonkeyPatch()
    patch.setenv("PLATFORM_LAB_ID", ident)

    def teardown() -> None:
        leftovers = manager.down(ident)
        patch.undo()
        assert not leftovers, f"lab teardown left: {leftovers}"

    request.addfinalizer(teardown)
    manager.down(ident)  # leftovers of an interrupted earlier run
    lab = manager.up(3, ident).lab
    log_dir = tmp_path_factory.mktemp("gpu-logs")
    # gpu_node.yml brings containerd itself (meta dependency of nvidia_container_toolkit); the OS baseline of
    # node_base.yml is not needed for what this module proves, and skipping it keeps the module short.
    first = provision.run_playbook("lab", "gpu_node.yml", log_dir=log_dir)
    yield GpuLab(lab, log_dir, first)


def effective_cri(gpu_lab: GpuLab, node: str) -> dict:
    dump = gpu_lab.ssh(node, "containerd config dump")
    assert dump.returncode == 0, dump.stderr
    return tomllib.loads(dump.stdout)["plugins"][CRI]


def test_converges_and_the_driver_role_says_why_it_skips(gpu_lab):
    first = gpu_lab.first
    assert first.ok, f"gpu_node.yml failed on {first.failed_hosts}; see {first.log_path}"
    assert set(first.recap) == GPU_NODES
    log = first.log_path.read_text()
    for node in GPU_NODES:
        assert f"{node}: nvidia_driver skipped: {NO_GPU}" in log
        assert f"{node}: nvidia_container_toolkit packages skipped: {NO_GPU}" in log


def test_second_converge_changes_nothing(gpu_lab):
    again = gpu_lab.play("gpu_node.yml")
    assert again.ok, again.failed_hosts
    changed = {host: counts["changed"] for host, counts in again.recap.items() if counts["changed"]}
    assert (set(again.recap), changed) == (GPU_NODES, {}), f"not idempotent; see {again.log_path}"


@pytest.mark.parametrize("node", sorted(GPU_NODES))
def test_nvidia_dropin_is_present_and_containerd_accepts_it(gpu_lab, node):
    assert gpu_lab.ssh(node, f"test -s {DROPIN}").returncode == 0, f"{DROPIN} missing on {node}"
    cri = effective_cri(gpu_lab, node)
    runtimes = cri["containerd"]["runtimes"]
    assert runtimes["nvidia"]["options"]["BinaryName"] == "/usr/bin/nvidia-container-runtime"
    assert runtimes["nvidia"]["runtime_type"] == "io.containerd.runc.v2"
    # The containerd role's settings survive the drop-in's complete CRI section.
    assert runtimes["runc"]["options"]["SystemdCgroup"] is True
    assert cri["containerd"]["default_runtime_name"] == "runc"
    assert cri["containerd"]["snapshotter"] == "native"
    assert cri["registry"]["config_path"] == "/etc/containerd/certs.d"
    assert gpu_lab.ssh(node, "systemctl is-active containerd").stdout.strip() == "active"
    plugins = gpu_lab.ssh(node, "ctr plugins ls").stdout
    assert any(
        line.split()[:2] == ["io.containerd.grpc.v1", "cri"] and line.split()[-1] == "ok"
        for line in plugins.splitlines()
        if line.strip()
    ), plugins


def test_containerd_role_rerun_keeps_the_nvidia_runtime(gpu_lab):
    before = {node: gpu_lab.ssh(node, f"sha256sum {DROPIN}").stdout for node in GPU_NODES}
    rerun = gpu_lab.play(
        "node_base.yml", limit=",".join(sorted(GPU_NODES)), extra_args=["--tags", "containerd"]
    )
    assert rerun.ok, rerun.failed_hosts
    for node in GPU_NODES:
        assert rerun.recap[node]["changed"] == 0, f"see {rerun.log_path}"
        assert gpu_lab.ssh(node, f"sha256sum {DROPIN}").stdout == before[node] != ""
        assert "nvidia" in effective_cri(gpu_lab, node)["containerd"]["runtimes"]


def test_gpu_smoke_checks_skip_with_reasons(gpu_lab, tmp_path):
    report_path = tmp_path / "smoke.json"
    proc = subprocess.run(
        [str(PLATFORMCTL), "smoke", "--stack", "lab", "--report", str(report_path), "-k", "gpu"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(report_path.read_text())
    rows = [r for r in report["results"] if r["check"].startswith("gpu.")]
    assert {r["host"] for r in rows} == GPU_NODES and len(rows) >= 18, rows
    for row in rows:
        if row["check"] == "gpu.containerd_has_nvidia_runtime":
            assert row["status"] == "passed" and "no GPU here" in row["message"], row
        else:
            assert row["status"] == "skipped" and "no NVIDIA GPU on the PCI bus" in row["message"], row
    assert proc.returncode == 0, proc.stdout[-2000:]


def test_upgrade_refuses_a_gpu_node_without_gpus_before_cordoning_it(gpu_lab):
    upgrade = gpu_lab.play("upgrade_gpu_driver.yml")
    log = upgrade.log_path.read_text()
    assert upgrade.returncode != 0 and upgrade.failed_hosts == ["node2"], f"see {upgrade.log_path}"
    assert (
        "node2 is in group gpu_nodes but has no NVIDIA GPU on its PCI bus" in log
        and "Fix: remove node2 from gpu_nodes in the inventory" in log
    ), f"see {upgrade.log_path}"
    # Stopped before the drain task and before the second node of the rollout; nothing changed.
    assert "Cordon and drain the node" not in log and "node3" not in upgrade.recap, f"see {upgrade.log_path}"
    assert upgrade.recap["node2"]["changed"] == 0


def test_kubernetes_role_ends_where_the_inventory_turns_it_off(gpu_lab):
    run = gpu_lab.play("kubernetes.yml")
    assert run.ok, f"see {run.log_path}"
    assert set(run.recap) == ALL_NODES and run.changed == 0, f"see {run.log_path}"
    log = run.log_path.read_text()
    for node in ALL_NODES:
        assert f"{node}: kubernetes skipped: kubernetes_enabled is false in the inventory" in log
    assert "Install kubeadm, kubelet and kubectl" not in log


def test_kubernetes_layer_passes_syntax_check_and_check_mode(gpu_lab):
    for playbook in KUBERNETES_PLAYBOOKS:
        syntax = gpu_lab.play(playbook, extra_args=["--syntax-check"])
        assert syntax.ok, f"{playbook}: see {syntax.log_path}"
    check = gpu_lab.play("kubernetes.yml", check=True, extra_args=KUBERNETES_ON)
    assert check.ok, f"kubernetes.yml --check failed on {check.failed_hosts}; see {check.log_path}"
    assert set(check.recap) == ALL_NODES
    log = check.log_path.read_text()
    assert "kind: ClusterConfiguration" in log, "no kubeadm configuration in the diff"
    # The pod network: the pinned tigera-operator manifest, and Calico's IP pool on kubeadm's pod CIDR.
    calico = load_pins()["calico_version"]
    manifest = (
        f"https://raw.githubusercontent.com/projectcalico/calico/{calico}/manifests/tigera-operator.yaml"
    )
    assert f"node1: pod network calico from {manifest}, pod CIDR 10.244.0.0/16" in log, check.log_path
    assert "kind: Installation" in log and 'cidr: "10.244.0.0/16"' in log, f"see {check.log_path}"
    assert 'podSubnet: "10.244.0.0/16"' in log


@pytest.mark.parametrize(
    ("cni", "says"),
    [
        (
            "flannel",
            f"from https://github.com/flannel-io/flannel/releases/download/{load_pins()['flannel_version']}/"
            "kube-flannel.yml",
        ),
        ("none", "(none: the site brings its own; nodes stay NotReady until it runs)"),
    ],
    ids=["flannel", "none"],
)
def test_kubernetes_check_mode_with_the_other_cni_choices(gpu_lab, cni, says):
    check = gpu_lab.play(
        "kubernetes.yml",
        check=True,
        extra_args=["-e", json.dumps({"kubernetes_enabled": True, "kubernetes_cni": cni})],
    )
    assert check.ok, f"kubernetes.yml --check with {cni} failed on {check.failed_hosts}; see {check.log_path}"
    log = check.log_path.read_text()
    assert f"node1: pod network {cni} {says}, pod CIDR 10.244.0.0/16" in log, check.log_path
    assert "kind: Installation" not in log
