"""Figures from Locust's CSV files: throughput, upload-to-done percentiles, error rate.

Pure functions of the CSV text, so they test without Locust. Throughput counts the
completed `FLOW upload-to-done` entries (images with every variant available) per second
of the steady part of the run, after a warm-up while the users arrive and queues fill.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

FLOW = "FLOW"
UPLOAD_TO_DONE = "upload-to-done"
AGGREGATED = "Aggregated"


@dataclass(frozen=True)
class Point:
    """One second of the run for the upload-to-done entry."""

    t: float  # seconds since the first history row
    done_total: int
    failed_total: int
    users: int
    p50_ms: float | None
    p95_ms: float | None


@dataclass(frozen=True)
class Figures:
    images_per_s: float
    window_s: tuple[float, float]
    images_done: int
    flows_failed: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    requests: int
    failures: int

    @property
    def error_rate(self) -> float:
        return self.failures / self.requests if self.requests else 0.0

    def as_json(self) -> dict[str, object]:
        return {
            "resize_throughput": {
                "images_per_s": round(self.images_per_s, 3),
                "window_s": [round(self.window_s[0], 1), round(self.window_s[1], 1)],
                "images_done_in_window": self.images_done,
                "basis": "upload-to-done completions per second after the warm-up",
            },
            "upload_to_done_ms": {
                "p50": self.p50_ms,
                "p95": self.p95_ms,
                "p99": self.p99_ms,
                "failed": self.flows_failed,
            },
            "requests": {
                "total": self.requests,
                "failures": self.failures,
                "error_rate": round(self.error_rate, 5),
                "basis": "failed HTTP requests / HTTP requests (flows not counted twice)",
            },
        }


def _number(text: str) -> float | None:
    if text in ("", "N/A"):
        return None
    return float(text)


def _positive(text: str) -> float | None:
    """A windowed percentile; Locust writes 0 while its 10 s window has no data yet."""
    value = _number(text)
    return value if value else None


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def final_row(stats: list[dict[str, str]], kind: str, name: str) -> dict[str, str] | None:
    for row in stats:
        if row["Name"] == name and (row["Type"] == kind or name == AGGREGATED):
            return row
    return None


def timeline(history: list[dict[str, str]]) -> list[Point]:
    """The upload-to-done entry, one point per history row, time from the run's start."""
    if not history:
        return []
    start = min(int(row["Timestamp"]) for row in history)
    points = []
    for row in history:
        if row["Type"] != FLOW or row["Name"] != UPLOAD_TO_DONE:
            continue
        points.append(
            Point(
                t=float(int(row["Timestamp"]) - start),
                done_total=int(row["Total Request Count"]) - int(row["Total Failure Count"]),
                failed_total=int(row["Total Failure Count"]),
                users=int(row["User Count"]),
                p50_ms=_positive(row["50%"]),
                p95_ms=_positive(row["95%"]),
            )
        )
    return points


def rate(points: list[Point], smooth_s: float = 5.0) -> list[tuple[float, float]]:
    """Completed images per second over time, as differences over `smooth_s` seconds."""
    result = []
    for point in points:
        earlier = [p for p in points if point.t - smooth_s <= p.t < point.t]
        if earlier:
            first = earlier[0]
            result.append((point.t, (point.done_total - first.done_total) / (point.t - first.t)))
    return result


def steady_throughput(
    points: list[Point], warmup_s: float
) -> tuple[float, tuple[float, float], int]:
    """Images done per second from the end of the warm-up until users start stopping."""
    if len(points) < 2:
        return 0.0, (0.0, 0.0), 0
    # The run ends when users start to stop (their clean-up is not load).
    peak = max(p.users for p in points)
    full = [p for p in points if p.users == peak] or points
    after = [p for p in full if p.t >= warmup_s] or full[-2:]
    first, last = after[0], full[-1]
    if last.t <= first.t:
        first = points[0]
    span = last.t - first.t
    done = last.done_total - first.done_total
    return (done / span if span > 0 else 0.0), (first.t, last.t), done


def figures(stats_csv: Path, history_csv: Path, warmup_s: float) -> Figures:
    """The bench's figures from one Locust run's CSV files."""
    stats = read_rows(stats_csv)
    flow = final_row(stats, FLOW, UPLOAD_TO_DONE)
    if final_row(stats, "", AGGREGATED) is None:
        raise ValueError(f"{stats_csv} has no Aggregated row: not a Locust stats file")
    # HTTP requests only: a failed flow is already counted by the request that failed it.
    http = [row for row in stats if row["Type"] != FLOW and row["Name"] != AGGREGATED]
    points = timeline(read_rows(history_csv))
    throughput, window, done = steady_throughput(points, warmup_s)
    return Figures(
        images_per_s=throughput,
        window_s=window,
        images_done=done,
        flows_failed=int(flow["Failure Count"]) if flow else 0,
        p50_ms=_number(flow["50%"]) if flow else None,
        p95_ms=_number(flow["95%"]) if flow else None,
        p99_ms=_number(flow["99%"]) if flow else None,
        requests=sum(int(row["Request Count"]) for row in http),
        failures=sum(int(row["Failure Count"]) for row in http),
    )
