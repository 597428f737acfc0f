"""The smoke suite's pytest plugin: stack and inventory, selection of hosts per check, the report and the
exit code. smoke_tests/conftest.py loads it; smoke_tests/README.md describes the behaviour.

Every check module declares the inventory group it checks and, optionally, the role whose variables it
reads:

    pytestmark = pytest.mark.smoke(group="k8s_cluster", role="containerd")

and each of its tests that takes the `host` fixture (or `role_vars`, `inventory_hostname`) runs once per
host of that group. Under xdist (`-n auto --dist loadgroup`) all checks of one host go to one worker.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from platformctl.paths import REPO_ROOT
from smoke_tests import report as rpt
from smoke_tests.hosts import HostUnreachable
from smoke_tests.state import MARKER, WORKER_INVENTORY, WORKER_INVENTORY_PATH, SmokeState, state

MESSAGE_LIMIT = 400
DEFAULT_CHECK_TIMEOUT_S = 60.0


class CheckTimeout(Exception):
    """A check (or its setup) ran past --smoke-check-timeout: the host did not let it decide."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("smoke", "platform smoke suite")
    group.addoption(
        "--stack",
        help="Stack to check (lab, staging, production); its inventory is read. "
        "testinfra's --ansible-inventory overrides the inventory (the stack "
        "name then only labels the report).",
    )
    group.addoption(
        "--smoke-report",
        type=Path,
        default=None,
        metavar="PATH",
        help="Where to write the JSON report (default: reports/smoke-<stack>.json).",
    )
    group.addoption(
        "--smoke-all-rows",
        action="store_true",
        help="List every check in the summary, not only those that did not pass.",
    )
    group.addoption(
        "--smoke-check-timeout",
        type=float,
        default=DEFAULT_CHECK_TIMEOUT_S,
        metavar="S",
        help="Seconds a check's setup or body may take before it is stopped and reported as "
        "an error (0: no limit; default %(default)s).",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(group, role=None): inventory group whose hosts a smoke "
        "check runs on, and the role whose variables it reads",
    )
    config.addinivalue_line("markers", "xdist_group(name): run these tests on one xdist worker")
    config.pluginmanager.import_plugin("smoke_tests.fixtures")
    smoke = state(config)
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(Reporter(config, smoke), "smoke-reporter")


def pytest_sessionfinish(session: pytest.Session) -> None:
    pool = state(session.config).pool
    if pool is not None:
        pool.close()


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: one worker per host (cap with --maxprocesses); none when there is nothing to check."""
    inventory = state(config).inventory
    return len(inventory.hosts()) if inventory else 0


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    inventory = state(node.config).inventory
    if inventory is not None:
        node.workerinput[WORKER_INVENTORY_PATH] = inventory.path
        node.workerinput[WORKER_INVENTORY] = json.dumps(inventory.data)


@pytest.hookimpl(tryfirst=True)
def pytest_collection(session: pytest.Session) -> bool | None:
    """With no usable inventory there is nothing to check: collect nothing, exit 2 with the reason."""
    return True if state(session.config).inventory is None else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "smoke_host" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker(MARKER)
    if marker is None or not marker.kwargs.get("group"):
        pytest.fail(
            f"{metafunc.module.__name__} does not say which hosts it checks: add "
            f'pytestmark = pytest.mark.{MARKER}(group="<inventory group>", role="<role>")',
            pytrace=False,
        )
    group = marker.kwargs["group"]
    smoke = state(metafunc.config)
    assert smoke.inventory is not None  # pytest_collection stops earlier without one
    hosts = smoke.inventory.hosts(group)
    params = [pytest.param(h, id=h, marks=pytest.mark.xdist_group(h)) for h in hosts] or [
        pytest.param(
            None,
            id="no-hosts",
            marks=pytest.mark.skip(reason=f"group {group} has no hosts in stack {smoke.run.stack}"),
        )
    ]
    metafunc.parametrize("smoke_host", params, scope="module")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Name each item for the report: check `<directory>.<function without test_>` (e.g.
    containerd.service_active, other parameters in brackets) and host."""
    for item in items:
        if not isinstance(item, pytest.Function):
            continue
        params = dict(item.callspec.params) if hasattr(item, "callspec") else {}
        host = params.pop("smoke_host", None)
        check = f"{item.path.parent.name}.{item.originalname.removeprefix('test_')}"
        if params:
            check += f"[{','.join(str(v) for v in params.values())}]"
        item.user_properties += [("smoke_check", check), ("smoke_host", host)]


def pytest_collection_finish(session: pytest.Session) -> None:
    """Without xdist, connect to every host the selected checks need at once (threads), then run the
    checks one by one over the shared connections. Under xdist each worker connects to its own hosts."""
    if hasattr(session.config, "workerinput") or not session.items:
        return
    needed = {item.callspec.params.get("smoke_host") for item in session.items if hasattr(item, "callspec")}
    state(session.config).host_pool().connect(sorted(h for h in needed if h))


@contextmanager
def _deadline(seconds: float, phase: str) -> Iterator[None]:
    """Stop a phase that runs past `seconds` (a hung command on a host must not hang the gate). SIGALRM,
    so only in the main thread, which is where pytest and xdist workers run tests."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(_signum: int, _frame: object) -> None:
        raise CheckTimeout(f"{phase} did not finish within {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    with _deadline(item.config.getoption("smoke_check_timeout"), "setup"):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    with _deadline(item.config.getoption("smoke_check_timeout"), "the check"):
        return (yield)


# Results ---------------------------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    report: pytest.TestReport = yield
    status, message = _classify(report, call)
    if status is not None:
        report.user_properties.append(("smoke_status", status))
        if message:
            report.user_properties.append(("smoke_message", message))
    return report


def _classify(report: pytest.TestReport, call: pytest.CallInfo[None]) -> tuple[str | None, str]:
    excinfo = call.excinfo
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        return rpt.SKIPPED, reason.removeprefix("Skipped: ")
    if excinfo is not None and excinfo.errisinstance(HostUnreachable):
        return rpt.UNREACHABLE, f"unreachable: {excinfo.value.reason}"
    if excinfo is not None and excinfo.errisinstance(CheckTimeout):
        return rpt.ERROR, str(excinfo.value)
    if report.failed:
        if report.when == "call":
            return rpt.FAILED, _failure_message(excinfo)
        return rpt.ERROR, f"{report.when}: {_failure_message(excinfo)}"
    if report.when == "call":
        return rpt.PASSED, ""
    return None, ""


def _failure_message(excinfo: pytest.ExceptionInfo[BaseException] | None) -> str:
    """The check's own words: an assertion's message without pytest's rewritten expression."""
    if excinfo is None:
        return "failed"
    if excinfo.errisinstance(AssertionError) and str(excinfo.value):
        text = str(excinfo.value).split("\nassert ")[0].strip()
    else:
        text = excinfo.exconly().strip()
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 3] + "..."


class Reporter:
    """Controller side (the only process when xdist is off): turns reports into rows, then writes the
    JSON report, prints the summary and sets the exit code."""

    def __init__(self, config: pytest.Config, smoke: SmokeState):
        self.config = config
        self.smoke = smoke
        self.phases: dict[str, dict[str, Any]] = {}  # nodeid -> row being assembled over its phases
        self.report_path: Path | None = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props: dict[str, Any] = {}
        notes: list[str] = []
        for key, value in report.user_properties:
            if key == "smoke_note":
                notes.append(str(value))
            else:
                props[key] = value
        entry = self.phases.setdefault(
            report.nodeid,
            {
                "check": props.get("smoke_check", report.nodeid),
                "host": props.get("smoke_host"),
                "status": None,
                "messages": [],
                "duration": 0.0,
            },
        )
        entry["duration"] += report.duration
        status, message = props.get("smoke_status"), props.get("smoke_message")
        if status is None and report.failed:  # e.g. an xdist worker that died under a check
            lines = report.longreprtext.strip().splitlines()
            status, message = rpt.ERROR, lines[-1] if lines else "failed"
        if status == rpt.PASSED and notes:
            message = "; ".join(notes)
        if status is not None and (
            entry["status"] is None or rpt.SEVERITY.index(status) < rpt.SEVERITY.index(entry["status"])
        ):
            entry["status"] = status
        if message and message not in entry["messages"]:
            entry["messages"].append(message)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            lines = report.longreprtext.strip().splitlines()
            self.phases[f"collect::{report.nodeid}"] = {
                "check": report.nodeid or "collection",
                "host": None,
                "status": rpt.ERROR,
                "messages": [f"collection failed: {lines[-1] if lines else 'unknown error'}"],
                "duration": 0.0,
            }

    def rows(self) -> list[rpt.Row]:
        rows = []
        for entry in self.phases.values():
            host, message = entry["host"], " | ".join(entry["messages"])
            if host and message:
                message = f"{host}: {message}"
            rows.append(
                rpt.Row(
                    stack=self.smoke.run.stack,
                    check=entry["check"],
                    host=host,
                    status=entry["status"] or rpt.ERROR,
                    message=message,
                    duration=round(entry["duration"], 3),
                )
            )
        return rows

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        run = self.smoke.run
        run.rows = self.rows()
        if (
            session.exitstatus == pytest.ExitCode.INTERRUPTED
            and not run.problems
            and not any(row.status == rpt.ERROR for row in run.rows)
        ):
            run.problems.append("the run was interrupted before every check had run")
        self.report_path = self.config.getoption("smoke_report") or (
            REPO_ROOT / "reports" / f"smoke-{run.stack}.json"
        )
        run.write_json(self.report_path)
        session.exitstatus = run.exit_code()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        writer = self.config.get_terminal_writer()
        every_row = self.config.getoption("smoke_all_rows") or self.config.get_verbosity() > 0
        terminalreporter.section("smoke summary")
        terminalreporter.write(self.smoke.run.render_summary(writer.fullwidth, writer.hasmarkup, every_row))
        terminalreporter.write_line(f"report: {self.report_path}")
