"""Summarise containerd's effective configuration (main file plus imported drop-ins) as JSON.

Run on the node by the containerd role (python3 >= 3.11 for tomllib): it checks that the settings it renders
survived the drop-ins, and names the drop-ins that define the CRI plugin section.
Usage: effective_config.py CONFIG_FILE DROPIN_DIR
"""

import glob
import json
import subprocess
import sys
import tomllib

CRI = "io.containerd.grpc.v1.cri"


def main(config_file: str, dropin_dir: str) -> None:
    dump = subprocess.run(
        ["containerd", "--config", config_file, "config", "dump"], check=True, capture_output=True, text=True
    ).stdout
    effective = tomllib.loads(dump)
    cri = effective.get("plugins", {}).get(CRI, {})
    runtimes = cri.get("containerd", {}).get("runtimes", {})
    cri_dropins = []
    for path in sorted(glob.glob(f"{dropin_dir}/*.toml")):
        with open(path, "rb") as handle:
            plugins = tomllib.load(handle).get("plugins", {})
        if CRI in plugins or "cri" in plugins:
            cri_dropins.append(path)
    print(
        json.dumps(
            {
                "imports": effective.get("imports", []),
                "cri_disabled": [p for p in effective.get("disabled_plugins", []) if p in ("cri", CRI)],
                "snapshotter": cri.get("containerd", {}).get("snapshotter"),
                "runtimes": sorted(runtimes),
                "runc_systemd_cgroup": runtimes.get("runc", {}).get("options", {}).get("SystemdCgroup"),
                "config_path": cri.get("registry", {}).get("config_path"),
                "cri_dropins": cri_dropins,
            }
        )
    )


if __name__ == "__main__":
    main(*sys.argv[1:3])
