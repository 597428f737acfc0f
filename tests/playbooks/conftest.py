"""Load Python files that live inside roles (modules in library/, scripts in files/) as importable modules."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from platformctl.paths import PLAYBOOKS_DIR


def load_role_file(role: str, relative: str) -> ModuleType:
    path: Path = PLAYBOOKS_DIR / "roles" / role / relative
    spec = importlib.util.spec_from_file_location(f"role_{role}_{path.stem}", path)
    assert spec and spec.loader, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
