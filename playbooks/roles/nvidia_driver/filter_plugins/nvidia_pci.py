"""Filters of role nvidia_driver: NVIDIA GPUs from `lspci -Dnmm` output (also loaded by smoke_tests/gpu)."""

from __future__ import annotations

import shlex

NVIDIA_VENDOR = "10de"
# PCI base class 03 = display controller (0300 VGA on GeForce/RTX, 0302 3D controller on data-centre GPUs);
# NVIDIA's audio (0403), USB (0c03) and NVSwitch bridge (0680) functions are not GPUs.
DISPLAY_CLASS_PREFIX = "03"


def nvidia_pci_gpus(lspci_output: str) -> list[dict[str, str]]:
    """One {address, class, device} per NVIDIA display-class function in machine-readable lspci output.

    A line of `lspci -Dnmm` reads: 0000:3b:00.0 "0302" "10de" "20b0" -ra1 "10de" "1450"
    (slot, class, vendor, device, options, subsystem vendor, subsystem device).
    """
    gpus = []
    for line in lspci_output.splitlines():
        try:
            fields = shlex.split(line)
        except ValueError:
            continue
        if len(fields) < 4:
            continue
        slot, pci_class, vendor, device = fields[:4]
        if vendor.lower() == NVIDIA_VENDOR and pci_class.startswith(DISPLAY_CLASS_PREFIX):
            gpus.append({"address": slot, "class": pci_class, "device": device.lower()})
    return gpus


class FilterModule:
    def filters(self):
        return {"nvidia_pci_gpus": nvidia_pci_gpus}
