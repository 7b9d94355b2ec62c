"""Prometheus metrics, one registry per service so each /metrics shows only its own."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["CONTENT_TYPE", "Metrics"]

_RESIZE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8)
_LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)


class Metrics:
    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "imgcloud_http_requests",
            "HTTP requests answered, by method and status",
            ["service", "method", "status"],
            registry=r,
        )
        self.service = service
        self.uploads = Counter("imgcloud_uploads", "Uploads accepted (202)", registry=r)
        self.rejections = Counter(
            "imgcloud_upload_rejections",
            "Uploads refused for bad input, by reason",
            ["reason"],
            registry=r,
        )
        self.upload_replays = Counter(
            "imgcloud_upload_replays",
            "Uploads answered with the image of an earlier attempt with the same Idempotency-Key",
            registry=r,
        )
        self.upload_failures = Counter(
            "imgcloud_upload_failures",
            "Uploads answered 503 because S3 or the broker failed, by part",
            ["part"],
            registry=r,
        )
        self.jobs = Counter(
            "imgcloud_jobs",
            "Resize jobs finished, by outcome (done, failed, skipped, retried, error)",
            ["outcome"],
            registry=r,
        )
        self.jobs_given_up = Counter(
            "imgcloud_jobs_given_up",
            "Jobs ended failed after the delivery limit, by how (worker: its own error "
            "on the last delivery; dead_letter: the broker's limit, after crashes)",
            ["how"],
            registry=r,
        )
        self.sweeps = Counter(
            "imgcloud_sweeper_uploads",
            "Pending uploads the sweeper acted on, by outcome (republished, failed, settled)",
            ["outcome"],
            registry=r,
        )
        self.widths_made = Counter(
            "imgcloud_widths_made",
            "Widths on demand (w{WIDTH}) this backend made and stored",
            registry=r,
        )
        self.resize_seconds = Histogram(
            "imgcloud_resize_duration_seconds",
            "Decode + every variant + encode, per image",
            buckets=_RESIZE_BUCKETS,
            registry=r,
        )
        self.queue_lag = Histogram(
            "imgcloud_queue_lag_seconds",
            "Time from publish to the worker starting the job",
            buckets=_LAG_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "imgcloud_queue_messages", "Jobs waiting in the resize queue", registry=r
        )
        self.jobs_in_progress = Gauge(
            "imgcloud_jobs_in_progress", "Jobs this worker holds right now", registry=r
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
