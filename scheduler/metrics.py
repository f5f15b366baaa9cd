"""Prometheus metrics of the service (one registry per process, as prometheus-client intends)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "scheduler_http_requests_total", "HTTP requests answered", ["route", "method", "status"]
)
HTTP_LATENCY = Histogram(
    "scheduler_http_request_seconds", "Time to answer an HTTP request", ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
INTAKE = Counter("scheduler_intake_total", "Requests and callbacks received", ["kind", "channel"])
OUTBOX_SENT = Counter("scheduler_outbox_sent_total", "Messages handed to a provider", ["channel", "result"])
JOB_RUNS = Counter("scheduler_job_runs_total", "Periodic job runs", ["job", "result"])
# Set by the ops-gauges job (ops_gauges.py) in every process that runs jobs; alerts in ops/alerts.yml use them.
OUTBOX_OLDEST_DUE = Gauge("scheduler_outbox_oldest_due_seconds",
                          "Age of the oldest outbox message that is due and still waits to be sent (0: none)")
OPEN_REQUESTS = Gauge("scheduler_open_requests", "Open requests and callbacks per site", ["site", "kind"])
DECISIONS_OVERDUE = Gauge("scheduler_decisions_overdue", "Open requests and callbacks past their decision deadline",
                          ["site", "kind"])
OPS_GAUGES_UPDATED = Gauge("scheduler_ops_gauges_updated_timestamp_seconds",
                           "When this process last refreshed the backlog gauges (Unix time; 0: never, no jobs here)")
