"""Structured (JSON lines) logs carrying the request id, and the Prometheus metrics of one app."""

import contextvars
import json
import logging
import sys
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


class JsonFormatter(logging.Formatter):
    _STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": round(time.time(), 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = request_id.get()
        if rid:
            entry["request_id"] = rid
        entry.update({k: v for k, v in record.__dict__.items() if k not in self._STANDARD})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("platform_services")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "cloudml_http_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "cloudml_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.auth_failures = Counter(
            "cloudml_auth_failures_total", "refused signatures", ["code"], registry=self.registry
        )
        self.jobs_submitted = Counter(
            "cloudml_jobs_submitted_total", "train jobs created", ["state"], registry=self.registry
        )
        self.jobs_finished = Counter(
            "cloudml_jobs_finished_total", "train jobs finished", ["state"], registry=self.registry
        )
        self.active_replicas = Gauge(
            "cloudml_runner_replicas", "replica processes watched by the runner", registry=self.registry
        )
        self.reconciler_leader = Gauge(
            "cloudml_reconciler_leader",
            "1 while this replica is the elected reconciler, 0 on standby or API-only",
            registry=self.registry,
        )
