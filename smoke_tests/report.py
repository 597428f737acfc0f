"""Results of a smoke run: one row per check and host, the verdict (exit code), the JSON report and the
human summary.

Row fields are stable (tooling and the upgrade gate parse them): stack, check, host, status, message,
duration. Statuses: passed, failed, skipped, unreachable, error.
"""

from __future__ import annotations

import io
import json
import textwrap
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

PASSED, FAILED, SKIPPED, UNREACHABLE, ERROR = "passed", "failed", "skipped", "unreachable", "error"
STATUSES = (PASSED, FAILED, SKIPPED, UNREACHABLE, ERROR)

EXIT_OK, EXIT_FAILED, EXIT_CANNOT_CHECK = 0, 1, 2

REPORT_VERSION = 1
STATUS_STYLE = {
    PASSED: "green",
    FAILED: "bold red",
    SKIPPED: "yellow",
    UNREACHABLE: "bold magenta",
    ERROR: "bold magenta",
}


@dataclass
class Row:
    stack: str
    check: str
    host: str | None
    status: str
    message: str
    duration: float


@dataclass
class Run:
    """Everything the report says about one run; filled in by the plugin as reports arrive."""

    stack: str
    inventory: str | None
    started: float = field(default_factory=time.time)
    rows: list[Row] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # environment errors: nothing could be checked

    def exit_code(self) -> int:
        """2 when anything could not be checked (wins: the verdict is incomplete), else 1 on a failed
        check, else 0. A run that checked nothing is not a pass."""
        counts = Counter(row.status for row in self.rows)
        if self.problems or counts[UNREACHABLE] or counts[ERROR] or not (counts[PASSED] + counts[FAILED]):
            return EXIT_CANNOT_CHECK
        return EXIT_FAILED if counts[FAILED] else EXIT_OK

    def verdict(self) -> str:
        code = self.exit_code()
        counts = Counter(row.status for row in self.rows)
        hosts = sorted({row.host for row in self.rows if row.host})
        if code == EXIT_OK:
            return f"PASS: {counts[PASSED]} checks passed on {len(hosts)} hosts" + (
                f" ({counts[SKIPPED]} skipped)" if counts[SKIPPED] else ""
            )
        if code == EXIT_FAILED:
            return f"FAIL: {counts[FAILED]} of {counts[PASSED] + counts[FAILED]} checks failed"
        reasons = list(self.problems)
        down = sorted({row.host for row in self.rows if row.status == UNREACHABLE and row.host})
        if down:
            reasons.append(f"unreachable: {', '.join(down)}")
        if counts[ERROR]:
            reasons.append(f"{counts[ERROR]} checks errored")
        if counts[FAILED]:
            reasons.append(f"{counts[FAILED]} checks failed")
        if not reasons:
            reasons.append("no check ran")
        return "CANNOT CHECK: " + "; ".join(reasons)

    def to_json(self) -> dict[str, Any]:
        counts = Counter(row.status for row in self.rows)
        return {
            "version": REPORT_VERSION,
            "stack": self.stack,
            "inventory": self.inventory,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "duration": round(time.time() - self.started, 3),
            "exit_code": self.exit_code(),
            "verdict": self.verdict(),
            "counts": {status: counts[status] for status in STATUSES},
            "problems": self.problems,
            "results": [asdict(row) for row in sorted(self.rows, key=_row_order)],
        }

    def write_json(self, path: Path) -> dict[str, Any]:
        document = self.to_json()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=2) + "\n")
        return document

    def render_summary(self, width: int, color: bool, every_row: bool = False) -> str:
        """Per-host counts, then each row that did not pass or carries a note (every row with every_row),
        one status line and one message line each, then the verdict."""
        out = io.StringIO()
        console = Console(file=out, width=width, force_terminal=color, no_color=not color, highlight=False)
        if self.rows:
            per_host = Table(title=f"smoke checks, stack {self.stack}", title_justify="left")
            per_host.add_column("host")
            for status in STATUSES:
                per_host.add_column(status, justify="right")
            for host in sorted({row.host or "-" for row in self.rows}):
                counts = Counter(row.status for row in self.rows if (row.host or "-") == host)
                per_host.add_row(host, *(_styled(status, counts[status]) for status in STATUSES))
            console.print(per_host)
        # An unreachable host is one line, not one per check; passing rows that carry a note (e.g. why a
        # service is legitimately idle) are shown.
        down = Counter((row.host, row.message) for row in self.rows if row.status == UNREACHABLE)
        for (host, message), count in sorted(down.items(), key=lambda item: item[0][0] or ""):
            console.print(
                f"[{STATUS_STYLE[UNREACHABLE]}]{UNREACHABLE.upper():<11}[/] {host or '-'}  "
                f"{count} checks not run"
            )
            _print_message(console, message, width)
        for row in sorted(self.rows, key=_severity_order):
            if row.status != UNREACHABLE and (every_row or row.status != PASSED or row.message):
                console.print(
                    f"[{STATUS_STYLE[row.status]}]{row.status.upper():<11}[/] {row.host or '-'}  "
                    f"{row.check}  [dim]({row.duration:.2f} s)[/]"
                )
                _print_message(console, row.message, width)
        code = self.exit_code()
        style = {EXIT_OK: "bold green", EXIT_FAILED: "bold red"}.get(code, "bold magenta")
        console.print(
            f"[{style}]{self.verdict()}[/] (stack {self.stack}, exit {code}, "
            f"{time.time() - self.started:.1f} s)"
        )
        return out.getvalue()


SEVERITY = (ERROR, UNREACHABLE, FAILED, SKIPPED, PASSED)


def _print_message(console: Console, message: str, width: int) -> None:
    if message:
        console.print(
            textwrap.fill(message, width=max(width, 40), initial_indent=" " * 12, subsequent_indent=" " * 12),
            markup=False,
        )


def _row_order(row: Row) -> tuple[str, str]:
    return (row.host or "", row.check)


def _severity_order(row: Row) -> tuple[int, str, str]:
    return (SEVERITY.index(row.status), row.host or "", row.check)


def _styled(status: str, count: int) -> str:
    return f"[{STATUS_STYLE[status]}]{count}[/]" if count and status != PASSED else str(count)
