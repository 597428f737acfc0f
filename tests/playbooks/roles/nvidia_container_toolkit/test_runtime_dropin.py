"""The drop-in renderer of role nvidia_container_toolkit: TOML writer round trip and the runtime it adds."""

from __future__ import annotations

import tomllib

import pytest

from tests.playbooks.conftest import load_role_file

dropin = load_role_file("nvidia_container_toolkit", "files/runtime_dropin.py")

# The shape `containerd config dump` (1.6) gives for the CRI plugin, trimmed.
CRI = {
    "sandbox_image": "registry.k8s.io/pause:3.10",
    "max_concurrent_downloads": 3,
    "cni": {"bin_dir": "/opt/cni/bin", "conf_dir": "/etc/cni/net.d", "max_conf_num": 1},
    "containerd": {
        "snapshotter": "native",
        "default_runtime_name": "runc",
        "default_runtime": {"runtime_type": "", "options": {}},
        "runtimes": {
            "runc": {
                "runtime_type": "io.containerd.runc.v2",
                "privileged_without_host_devices": False,
                "options": {"BinaryName": "", "SystemdCgroup": True, "NoPivotRoot": False},
            }
        },
    },
    "registry": {"config_path": "/etc/containerd/certs.d", "mirrors": {}, "headers": {}},
    "image_decryption": {"key_model": "node"},
    "x509_key_pair_streaming": {"tls_cert_file": "", "tls_key_file": ""},
}


def test_dumps_round_trips_what_containerd_dumps():
    data = {
        "version": 2,
        "plugins": {"io.containerd.grpc.v1.cri": CRI},
        "odd": {"dotted.key": {'quote"d': "a\\b\n", "floats": [0.5, 1e-3], "empty": []}},
        "proxy_plugins": [{"type": "snapshot", "address": "/run/x.sock"}],
    }
    assert tomllib.loads(dropin.dumps(data)) == data


def test_dumps_refuses_what_it_cannot_write():
    with pytest.raises(TypeError):
        dropin.dumps({"when": object()})


def test_runtime_copies_runc_and_sets_the_binary_without_touching_runc():
    cri = dropin.with_runtime(CRI, "nvidia", "/usr/bin/nvidia-container-runtime", default=False, cdi=False)
    runtimes = cri["containerd"]["runtimes"]
    assert runtimes["nvidia"]["runtime_type"] == "io.containerd.runc.v2"
    assert runtimes["nvidia"]["options"] == {
        "BinaryName": "/usr/bin/nvidia-container-runtime",
        "SystemdCgroup": True,
        "NoPivotRoot": False,
    }
    assert runtimes["runc"]["options"]["BinaryName"] == ""
    assert cri["containerd"]["default_runtime_name"] == "runc"
    assert "enable_cdi" not in cri
    assert CRI["containerd"]["runtimes"].keys() == {"runc"}, "the input must not be modified"


def test_default_runtime_and_cdi_options():
    cri = dropin.with_runtime(CRI, "nvidia", "/usr/bin/nvidia-container-runtime", default=True, cdi=True)
    assert cri["containerd"]["default_runtime_name"] == "nvidia"
    assert cri["enable_cdi"] is True and cri["cdi_spec_dirs"] == ["/etc/cdi", "/var/run/cdi"]


def test_dropin_carries_the_complete_cri_section_and_nothing_else():
    """containerd 1.x replaces the CRI section per file: every setting of the effective one must be there."""
    cri = dropin.with_runtime(CRI, "nvidia", "/bin/x", default=False, cdi=False)
    parsed = tomllib.loads(dropin.dropin_text(cri))
    assert parsed == {"version": 2, "plugins": {"io.containerd.grpc.v1.cri": cri}}
    again = dropin.with_runtime(CRI, "nvidia", "/bin/x", default=False, cdi=False)
    assert dropin.dropin_text(cri) == dropin.dropin_text(again), "same input, same bytes (changed=0)"
