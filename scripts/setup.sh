#!/usr/bin/env bash
# Installs everything the platform's tooling needs on a fresh Debian/Ubuntu machine, as root, idempotently:
# host packages for the lab, a Python >= 3.11 virtualenv in .venv with the locked dependency set.
# A second run with nothing changed returns in well under a second.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv"
stamp="$venv/.setup-stamp"

log() { printf '\033[36m>\033[0m %s\n' "$*" >&2; }

if [[ $EUID -ne 0 ]]; then
  echo "setup.sh: run as root (the lab needs network namespaces, mounts and systemd-nspawn): sudo $0" >&2
  exit 2
fi

want_stamp() {
  cat "$repo/pyproject.toml" "$repo/constraints.txt" | sha256sum | cut -d' ' -f1
}

apt_install() {
  log "apt-get install $*"
  if [[ -z "${apt_updated:-}" ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

pick_python() {
  local candidate
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null &&
      "$candidate" -c 'import sys; sys.exit(not ((3, 11) <= sys.version_info[:2] < (3, 14)))'; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

python="$(pick_python || true)"
if [[ -z "$python" ]]; then
  apt_install python3 python3-venv || apt_install python3.11 python3.11-venv
  python="$(pick_python)" || { echo "setup.sh: need Python 3.11-3.13; install python3.11" >&2; exit 2; }
fi
if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
  apt_install "$(basename "$python")-venv"
fi
command -v git >/dev/null || apt_install git

# Host packages (lab, local etcd): the list lives in platformctl/lab/prereqs.py (stdlib-only, runs before the venv).
mapfile -t missing < <(cd "$repo" && "$python" -m platformctl.lab.prereqs --missing-packages | grep -v '^$' || true)
if ((${#missing[@]})); then
  apt_install "${missing[@]}"
  # Debian's etcd-server enables a default single-node etcd on install; the platform never uses that one.
  if [[ " ${missing[*]} " == *" etcd-server "* && -d /run/systemd/system ]]; then
    systemctl disable --now etcd.service >/dev/null 2>&1 || log "could not disable the default etcd.service"
  fi
fi

if [[ -f "$stamp" && "$(cat "$stamp")" == "$(want_stamp)" && -x "$venv/bin/platformctl" ]]; then
  exit 0
fi
log "creating $venv with the locked dependency set (constraints.txt)"
[[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -c "$repo/constraints.txt" -e "${repo}[dev]"
want_stamp >"$stamp"
log "setup complete: $venv/bin/platformctl"
