"""images/cuda-smoke: built FROM the pinned CUDA base, running the host smoke suite's CUDA check as its entry
point, whose exit status and JSON line are what add_gpu_node.yml's test pod is judged by."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from platformctl.paths import REPO_ROOT
from platformctl.versions import load_pins
from tests.images.dockerfile import instructions as parse_instructions

DOCKERFILE = REPO_ROOT / "images" / "cuda-smoke" / "Dockerfile"
BUILD_CONTEXT = REPO_ROOT / "smoke_tests" / "gpu"  # documented in the Dockerfile's build command
CHECK = "cuda_compute.py"


def instructions() -> list[tuple[str, str]]:
    return parse_instructions(DOCKERFILE)


def test_base_image_default_is_the_pin():
    steps = instructions()
    args = dict(value.split("=", 1) for op, value in steps if op == "ARG" and "=" in value)
    assert args["CUDA_BASE_IMAGE"] == load_pins()["images"]["cuda_base"]
    assert [value for op, value in steps if op == "FROM"] == ["${CUDA_BASE_IMAGE}"]


def test_base_image_carries_the_pinned_cuda_version():
    repository, tag = load_pins()["images"]["cuda_base"].rsplit(":", 1)
    assert repository == "docker.io/nvidia/cuda"
    assert tag.startswith(load_pins()["cuda_version"] + "."), (tag, load_pins()["cuda_version"])


def test_image_runs_the_smoke_suites_cuda_check_as_non_root():
    steps = instructions()
    copies = [value.split() for op, value in steps if op == "COPY"]
    assert copies == [[CHECK, f"/opt/cuda-smoke/{CHECK}"]]
    assert (BUILD_CONTEXT / CHECK).is_file()
    assert json.loads(next(value for op, value in steps if op == "ENTRYPOINT")) == [
        "python3",
        f"/opt/cuda-smoke/{CHECK}",
    ]
    assert next(value for op, value in reversed(steps) if op == "USER") != "root"


def test_entry_point_reports_its_result_in_json_and_exit_status():
    """One JSON line; exit status 0 with ok true (a usable GPU), 1 with ok false (no GPU or a broken one)."""
    python3 = shutil.which("python3")
    if python3 is None:
        pytest.skip("no python3 on PATH")
    proc = subprocess.run(
        [python3, str(BUILD_CONTEXT / CHECK)], capture_output=True, text=True, timeout=300, check=False
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert proc.returncode == (0 if result["ok"] else 1), (result, proc.stderr)
    assert set(result) == {"ok", "method", "detail"} and result["detail"]
