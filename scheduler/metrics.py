"""Prometheus metrics of the service (one registry per process, as prometheus-client intends)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

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
