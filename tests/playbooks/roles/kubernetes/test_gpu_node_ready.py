"""add_gpu_node.yml's proof of a new GPU node (role kubernetes, gpu_node_ready): the test pod runs our pinned
images/cuda-smoke and passes only on its JSON result with ok true."""

from __future__ import annotations

import json

import pytest
import yaml

from smoke_tests.rolevars import playbook_group_vars
from tests.playbooks.roles.kubernetes.templating import evaluate, render_template, task

PINS = playbook_group_vars()
LOG_CHECK = task("gpu_node_ready.yml", "Read the CUDA test pod's log")["failed_when"]
OK = json.dumps(
    {"ok": True, "method": "cuda-driver-api", "detail": "vector add of 1048576 floats on 1 GPU(s)"}
)
WRONG = json.dumps({"ok": False, "method": "cuda-driver-api", "detail": "wrong results on [0]"})


def test_pod_runs_the_pinned_cuda_smoke_image_on_the_node():
    pod = yaml.safe_load(render_template("cuda-test-pod.yaml.j2", inventory_hostname="gpu-07"))
    container = pod["spec"]["containers"][0]
    assert container["image"] == PINS["pins_images"]["cuda_smoke"]
    assert pod["spec"]["nodeName"] == "gpu-07" and pod["spec"]["runtimeClassName"] == "nvidia"
    assert container["resources"]["limits"] == {"nvidia.com/gpu": 1}
    assert pod["spec"]["restartPolicy"] == "Never"


@pytest.mark.parametrize(
    ("lines", "failed"),
    [
        ([OK], False),
        (["some runtime notice", OK], False),
        ([WRONG], True),
        ([], True),
        ([OK, WRONG], True),
    ],
)
def test_log_check_requires_the_json_result_ok(lines, failed):
    assert evaluate(LOG_CHECK, kubernetes_test_log={"stdout_lines": lines}) is failed


def test_log_that_is_not_the_checks_output_fails():
    with pytest.raises(Exception, match=r"(?i)json|expecting"):
        evaluate(LOG_CHECK, kubernetes_test_log={"stdout_lines": ["Test PASSED"]})
