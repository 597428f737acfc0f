"""Render or inspect containerd's drop-in for the nvidia runtime (run on the node, python3 >= 3.11).

containerd 1.x replaces the whole CRI plugin section with the last imported file that names it
(containerd#5837), so the drop-in carries the complete CRI section as containerd resolves it without this
drop-in (main file plus the other drop-ins, via `containerd config dump`), plus the nvidia runtime, as
nvidia-ctk does
(NVIDIA/nvidia-container-toolkit#1311). The output depends only on that configuration, so re-runs are stable.

Usage:
  runtime_dropin.py render CONFIG_FILE DROPIN_FILE RUNTIME BINARY DEFAULT(true|false) CDI(true|false)
  runtime_dropin.py inspect CONFIG_FILE RUNTIME      -> JSON summary of the effective configuration
"""

from __future__ import annotations

import copy
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from typing import Any

CRI = "io.containerd.grpc.v1.cri"
CDI_SPEC_DIRS = ["/etc/cdi", "/var/run/cdi"]
BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(key: str) -> str:
    return key if BARE_KEY.match(key) else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) for item in value)


def dumps(data: dict[str, Any], path: tuple[str, ...] = ()) -> str:
    """TOML for the subset containerd's dump uses: tables, arrays of tables, strings, numbers, booleans."""
    lines = [
        f"{_key(k)} = {_value(v)}"
        for k, v in data.items()
        if not isinstance(v, dict) and not _is_table_array(v)
    ]
    out = "\n".join(lines) + ("\n" if lines else "")
    for k, v in data.items():
        sub = (*path, k)
        header = ".".join(_key(part) for part in sub)
        if isinstance(v, dict):
            out += f"\n[{header}]\n" + dumps(v, sub)
        elif _is_table_array(v):
            for item in v:
                out += f"\n[[{header}]]\n" + dumps(item, sub)
    return out


def with_runtime(cri: dict[str, Any], runtime: str, binary: str, default: bool, cdi: bool) -> dict[str, Any]:
    """The CRI section plus a runtime like runc (same type and options) whose BinaryName is `binary`."""
    cri = copy.deepcopy(cri)
    containerd = cri.setdefault("containerd", {})
    runtimes = containerd.setdefault("runtimes", {})
    runc = copy.deepcopy(runtimes.get("runc", {"runtime_type": "io.containerd.runc.v2"}))
    runc.setdefault("options", {})["BinaryName"] = binary
    runtimes[runtime] = runc
    if default:
        containerd["default_runtime_name"] = runtime
    if cdi:
        cri["enable_cdi"] = True
        cri["cdi_spec_dirs"] = CDI_SPEC_DIRS
    return cri


def dropin_text(cri: dict[str, Any]) -> str:
    return (
        "# Managed by Ansible role nvidia_container_toolkit: the complete CRI section (containerd 1.x\n"
        "# replaces it per file, containerd#5837) plus the nvidia runtime, from `config dump`.\n"
        + dumps({"version": 2, "plugins": {CRI: cri}})
    )


def _dump(config_file: str) -> dict[str, Any]:
    out = subprocess.run(
        ["containerd", "--config", config_file, "config", "dump"], check=True, capture_output=True, text=True
    ).stdout
    return tomllib.loads(out)


def cri_without(config_file: str, dropin_file: str) -> dict[str, Any]:
    """The effective CRI section when every import except `dropin_file` is loaded."""
    with open(config_file, "rb") as handle:
        main = tomllib.load(handle)
    imports = [
        path
        for pattern in main.get("imports", [])
        for path in sorted(glob.glob(pattern))
        if os.path.abspath(path) != os.path.abspath(dropin_file)
    ]
    main["imports"] = imports
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as tmp:
        tmp.write(dumps(main))
    try:
        return _dump(tmp.name).get("plugins", {}).get(CRI, {})
    finally:
        os.unlink(tmp.name)


def inspect(config_file: str, runtime: str) -> dict[str, Any]:
    cri = _dump(config_file).get("plugins", {}).get(CRI, {})
    containerd = cri.get("containerd", {})
    entry = containerd.get("runtimes", {}).get(runtime)
    return {
        "runtimes": sorted(containerd.get("runtimes", {})),
        "default_runtime_name": containerd.get("default_runtime_name"),
        "binary": (entry or {}).get("options", {}).get("BinaryName"),
        "enable_cdi": cri.get("enable_cdi", False),
    }


def main(argv: list[str]) -> None:
    if argv[0] == "render":
        config_file, dropin_file, runtime, binary, default, cdi = argv[1:7]
        cri = with_runtime(
            cri_without(config_file, dropin_file), runtime, binary, default == "true", cdi == "true"
        )
        sys.stdout.write(dropin_text(cri))
    elif argv[0] == "inspect":
        print(json.dumps(inspect(argv[1], argv[2])))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
