"""GPU detection of role nvidia_driver: its nvidia_pci_gpus filter on real `lspci -Dnmm` output shapes."""

from __future__ import annotations

from tests.playbooks.conftest import load_role_file

nvidia_pci = load_role_file("nvidia_driver", "filter_plugins/nvidia_pci.py")

# A DGX-style host: 8 data-centre GPUs (3D controller 0302) and NVSwitch bridges (0680).
DGX = """\
0000:07:00.0 "0302" "10de" "20b0" -ra1 "10de" "1450"
0000:0f:00.0 "0302" "10de" "20b0" -ra1 "10de" "1450"
0000:47:00.0 "0302" "10de" "20b0" -ra1 "10de" "1450"
0000:4e:00.0 "0302" "10de" "20b0" -ra1 "10de" "1450"
0000:87:00.0 "0302" "10de" "20b0" -ra1 "10de" "1450"
0000:90:00.0 "0302" "10de" "20b0" -ra1 "10de" "1450"
0000:b7:00.0 "0302" "10de" "20b0" -ra1 "10de" "1450"
0000:bd:00.0 "0302" "10de" "20b0" -ra1 "10de" "1450"
0000:c4:00.0 "0680" "10de" "1af1" -ra1 "10de" "0000"
0000:c5:00.0 "0680" "10de" "1af1" -ra1 "10de" "0000"
"""
# A workstation: a GeForce card (VGA 0300) with its HD audio function (0403), plus an Intel iGPU.
WORKSTATION = """\
0000:00:02.0 "0300" "8086" "3e92" -p00 "1028" "085a"
0000:01:00.0 "0300" "10de" "2684" -ra1 "1043" "889d"
0000:01:00.1 "0403" "10de" "22ba" -ra1 "1043" "889d"
"""


def test_counts_display_functions_of_vendor_10de_only():
    gpus = nvidia_pci.nvidia_pci_gpus(DGX)
    assert len(gpus) == 8
    assert gpus[0] == {"address": "0000:07:00.0", "class": "0302", "device": "20b0"}
    assert {g["class"] for g in gpus} == {"0302"}


def test_vga_gpu_counts_and_its_audio_function_and_other_vendors_do_not():
    assert nvidia_pci.nvidia_pci_gpus(WORKSTATION) == [
        {"address": "0000:01:00.0", "class": "0300", "device": "2684"}
    ]


def test_no_nvidia_device_empty_and_garbage_give_no_gpu():
    assert nvidia_pci.nvidia_pci_gpus("") == []
    assert nvidia_pci.nvidia_pci_gpus('0000:00:1f.2 "0106" "8086" "a352" -r10 "1028" "085a"') == []
    assert nvidia_pci.nvidia_pci_gpus('lspci: cannot open "/sys/bus/pci\n0000:01:00.0 "0300"') == []


def test_upper_case_hex_from_sysfs_is_accepted():
    assert len(nvidia_pci.nvidia_pci_gpus('0000:01:00.0 "0302" "10DE" "20B0"')) == 1


def test_the_role_registers_the_filter():
    assert nvidia_pci.FilterModule().filters() == {"nvidia_pci_gpus": nvidia_pci.nvidia_pci_gpus}
