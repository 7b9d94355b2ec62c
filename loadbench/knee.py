"""The knee of an open-loop run: the highest upload rate the cluster keeps up with.

Pure functions of the two CSV files tests/load/openloop_locustfile.py writes (one row
per upload, one per second), so every rule tests on planted histories.

A step is sustained when, at its rate:
- no request failed (every upload acknowledged, followed to `done`);
- the uploads really went out at that rate (at least 90 % of it: a load generator
  that falls behind must not pass for a cluster that keeps up);
- the queue does not grow: the uploads in flight (sent, not finished yet) over
  the second half of the step rise by less than 10 % of the rate per second, at
  least 0.25 upload/s (a backlog that grows that fast never drains; below that, a
  hiccup of a busy host that the next seconds absorb).
The knee is the highest rate of the steps before the first one not sustained: past
the first that is not, the queue it left behind carries into the next.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

MIN_SENT_SHARE = 0.9
MAX_GROWTH_SHARE = 0.10
MIN_GROWTH_PER_S = 0.25
MIN_SAMPLES = 4  # queue rows in a step's second half to judge its slope


@dataclass(frozen=True)
class Flow:
    step: int
    rate: float
    sent_at_s: float
    done: bool
    ms: float | None
    why: str
    image_id: str = ""

    @property
    def done_at_s(self) -> float | None:
        """When it was seen done, seconds from the run's start (the upload-to-done
        time counts from the send)."""
        return self.sent_at_s + self.ms / 1000 if self.done and self.ms is not None else None


@dataclass(frozen=True)
class QueueRow:
    t_s: float
    step: int  # -1 while draining
    in_flight: int
    unix_s: float = 0.0  # wall clock of the sample, to line other records up with


@dataclass(frozen=True)
class Step:
    """One rate's figures and verdict."""

    index: int
    rate: float
    sent: int
    sent_per_s: float
    failed: int
    done: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    in_flight_end: int | None
    queue_growth_per_s: float | None
    problems: tuple[str, ...]

    @property
    def sustained(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, object]:
        return asdict(self) | {"sustained": self.sustained}


def read_flows(path: Path) -> list[Flow]:
    with path.open(newline="") as handle:
        return [
            Flow(
                step=int(row["step"]),
                rate=float(row["rate"]),
                sent_at_s=float(row["sent_at_s"]),
                done=row["outcome"] == "done",
                ms=float(row["upload_to_done_ms"]) if row["upload_to_done_ms"] else None,
                why=row["why"],
                image_id=row.get("image_id") or "",
            )
            for row in csv.DictReader(handle)
        ]


def read_queue(path: Path) -> list[QueueRow]:
    with path.open(newline="") as handle:
        return [
            QueueRow(
                float(row["t_s"]), int(row["step"]), int(row["in_flight"]), float(row["unix_s"])
            )
            for row in csv.DictReader(handle)
        ]


def percentile(values: Sequence[float], share: float) -> float | None:
    """The nearest-rank percentile (share in 0..1); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return round(ordered[rank - 1], 1)


def slope(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of y over t; None with fewer than MIN_SAMPLES points."""
    if len(points) < MIN_SAMPLES:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    if not spread:
        return None
    return sum((t - mean_t) * (y - mean_y) for t, y in points) / spread


def step_figures(
    index: int, rate: float, step_s: float, flows: list[Flow], queue: list[QueueRow]
) -> Step:
    mine = [f for f in flows if f.step == index]
    rows = [q for q in queue if q.step == index]
    times = [f.ms for f in mine if f.done and f.ms is not None]
    failed = [f for f in mine if not f.done]
    sent_per_s = len(mine) / step_s if step_s else 0.0
    growth = None
    if rows:
        middle = rows[0].t_s + (rows[-1].t_s - rows[0].t_s) / 2
        growth = slope([(q.t_s, float(q.in_flight)) for q in rows if q.t_s >= middle])
    problems = []
    if not mine:
        problems.append("no upload sent")
    if failed:
        problems.append(f"{len(failed)} failed: {failed[0].why}")
    if sent_per_s < MIN_SENT_SHARE * rate:
        problems.append(f"sent {sent_per_s:.2f}/s of {rate:g}/s: the load generator fell behind")
    limit = max(MIN_GROWTH_PER_S, MAX_GROWTH_SHARE * rate)
    if growth is None:
        problems.append("too few queue samples to judge the queue")
    elif growth > limit:
        problems.append(f"queue grows {growth:.2f} images/s (limit {limit:.2f})")
    return Step(
        index=index,
        rate=rate,
        sent=len(mine),
        sent_per_s=round(sent_per_s, 3),
        failed=len(failed),
        done=len(times),
        p50_ms=percentile(times, 0.50),
        p95_ms=percentile(times, 0.95),
        p99_ms=percentile(times, 0.99),
        in_flight_end=rows[-1].in_flight if rows else None,
        queue_growth_per_s=None if growth is None else round(growth, 3),
        problems=tuple(problems),
    )


def steps(
    rates: Sequence[float], step_s: float, flows: list[Flow], queue: list[QueueRow]
) -> list[Step]:
    return [step_figures(i, rate, step_s, flows, queue) for i, rate in enumerate(rates)]


def knee(found: Sequence[Step]) -> Step | None:
    """The last sustained step before the first that is not (None: not even the first)."""
    best = None
    for step in found:
        if not step.sustained:
            break
        best = step
    return best


def resized_per_s(flows: Sequence[Flow], start_s: float, end_s: float) -> float:
    """Images seen done per second in [start_s, end_s): under a rate the cluster cannot
    keep up with, what it resizes, whatever the arrivals."""
    if end_s <= start_s:
        raise ValueError(f"an empty window: {start_s} to {end_s}")
    finished = [f for f in flows if (at := f.done_at_s) is not None and start_s <= at < end_s]
    return round(len(finished) / (end_s - start_s), 3)


LATENCY_SHARE = 0.8  # the latency goal is judged at 80 % of the knee
LATENCY_GOAL_MS = 2000.0


def latency_below_knee(found: Sequence[Step], best: Step | None) -> dict[str, object]:
    """p95 upload-to-done at the highest sustained step at or below 80 % of the knee."""
    if best is None:
        return {"at_rate": None, "p95_ms": None, "goal_ms": LATENCY_GOAL_MS, "met": False}
    below = [s for s in found if s.sustained and s.rate <= LATENCY_SHARE * best.rate + 1e-9]
    if not below:
        why = f"no sustained step at or below {LATENCY_SHARE:.0%} of the knee: add a lower rate"
        return {"at_rate": None, "p95_ms": None, "goal_ms": LATENCY_GOAL_MS, "met": False,
                "why": why}  # fmt: skip
    step = below[-1]
    met = step.p95_ms is not None and step.p95_ms <= LATENCY_GOAL_MS
    return {"at_rate": step.rate, "p95_ms": step.p95_ms, "goal_ms": LATENCY_GOAL_MS, "met": met}
