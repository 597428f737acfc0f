"""`platformctl smoke`: run the suite in-process with pytest and return the verdict as the exit code."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from platformctl.paths import REPO_ROOT, SMOKE_TESTS_DIR
from smoke_tests.report import EXIT_CANNOT_CHECK, EXIT_FAILED, EXIT_OK

# Measured on the 3-node lab with 2 cores: one process 2.6 s; xdist 3.4-8 s (worker start-up and imports
# cost more than the checks). Workers pay off for large inventories or slow hosts; see README.md.
DEFAULT_WORKERS = "0"


def pytest_args(
    stack: str, report: str | Path | None = None, workers: str = DEFAULT_WORKERS, extra: Sequence[str] = ()
) -> list[str]:
    """The pytest command line for one smoke run. The rich summary replaces pytest's tracebacks."""
    args = [
        str(SMOKE_TESTS_DIR),
        f"--stack={stack}",
        f"--rootdir={REPO_ROOT}",
        "-p",
        "no:cacheprovider",
        "-q",
        "--tb=no",
        "-rN",
    ]
    if report:
        args.append(f"--smoke-report={Path(report).resolve()}")
    if workers not in ("", "0"):
        # loadgroup + the per-host xdist_group mark: all checks of one host on one worker; with `auto`
        # the plugin asks for one worker per host.
        args += ["-n", workers, "--dist", "loadgroup"]
    return args + list(extra)


def run(
    stack: str, report: str | Path | None = None, workers: str = DEFAULT_WORKERS, extra: Sequence[str] = ()
) -> int:
    """0 every check passed, 1 a check failed, 2 the stack could not be checked (pytest's own usage or
    internal errors included)."""
    code = int(pytest.main(pytest_args(stack, report, workers, extra)))
    return code if code in (EXIT_OK, EXIT_FAILED, EXIT_CANNOT_CHECK) else EXIT_CANNOT_CHECK
