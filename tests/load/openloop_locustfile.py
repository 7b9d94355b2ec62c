"""Uploads that arrive at a set rate, whatever the cluster does with them (open loop).

The closed-loop Uploader (locustfile.py) waits for its image to be `done` and then
pauses, so its users' pacing sets the throughput, not the cluster. Here uploads come
off one schedule, evenly spaced at the step's rate, and each is only sent: a separate
greenlet follows it to `done` while the next goes out on time. The rate steps up
(IMGCLOUD_LOAD_RATES, uploads per second in total, each for IMGCLOUD_LOAD_STEP_S);
once a rate is more than the cluster can resize, the uploads in flight pile up, which
is what the knee analysis looks for (loadbench.knee). After the last step the run
drains: it waits for the followed uploads (up to IMGCLOUD_LOAD_DRAIN_S) so the last
step's slow ones are measured.

Two CSV files record the run, one row per upload (IMGCLOUD_LOAD_FLOWS_CSV) and one
per second (IMGCLOUD_LOAD_QUEUE_CSV: sent, acknowledged, done, failed, and in flight:
sent and not finished yet). Run through `python -m loadbench knee`; Locust's own CSVs are kept too.
"""

from __future__ import annotations

import csv
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any

import gevent
import locustfile as closed  # the closed-loop file: photos, answer checks
from locust import HttpUser, LoadTestShape, constant, events, task

RATES = [float(r) for r in os.environ.get("IMGCLOUD_LOAD_RATES", "2,4").split(",") if r]
STEP_S = float(os.environ.get("IMGCLOUD_LOAD_STEP_S", "40"))
DRAIN_S = float(os.environ.get("IMGCLOUD_LOAD_DRAIN_S", "60"))
# Enough users that an upload taking 2 s at the top rate leaves one free for the next.
USERS = int(os.environ.get("IMGCLOUD_LOAD_USERS", "0")) or max(4, int(max(RATES) * 2 + 0.5))
FLOWS_CSV = os.environ.get("IMGCLOUD_LOAD_FLOWS_CSV", "openloop_flows.csv")
QUEUE_CSV = os.environ.get("IMGCLOUD_LOAD_QUEUE_CSV", "openloop_queue.csv")
# Status polls: often enough to time a ~1 s flow, few enough that followers at the top
# rate stay well below HAProxy's per-client limit (100 requests/s from this host).
POLL_FIRST, POLL_MAX = 0.2, float(os.environ.get("IMGCLOUD_LOAD_POLL_MAX_S", "0.6"))


@dataclass
class Run:
    """What the followers share: the clock, the current step and the counts."""

    started: float = field(default_factory=time.monotonic)
    step: int = 0
    sent: int = 0
    acked: int = 0
    done: int = 0
    failed: int = 0
    draining: bool = False

    next_at: float = 0.0  # the next arrival, seconds from the start

    def now(self) -> float:
        return time.monotonic() - self.started

    def ticket(self) -> float:
        """The next arrival time (from the start); the one after is 1/rate later, the
        rate being that of the step the arrival falls in, so steps start on time.
        Gevent switches only at I/O, so no two users take the same ticket."""
        at = self.next_at
        self.next_at = at + 1 / RATES[min(int(at // STEP_S), len(RATES) - 1)]
        return at

    @property
    def rate(self) -> float:
        return RATES[min(self.step, len(RATES) - 1)]

    @property
    def in_flight(self) -> int:
        # Sent and not finished: an upload still being posted counts, so the drain
        # does not end under it.
        return self.sent - self.done - self.failed


RUN = Run()
_flows: Any = None


def _record_flow(
    step: int, sent_at: float, outcome: str, ms: float | None, why: str, image_id: str = ""
) -> None:
    _flows.writerow(
        [
            step,
            RATES[step],
            f"{sent_at:.3f}",
            outcome,
            "" if ms is None else f"{ms:.1f}",
            why[:200],
            image_id,  # the bench deletes what the run uploaded once it has measured
        ]
    )


@events.test_start.add_listener
def _start(environment: Any, **_: Any) -> None:
    global _flows
    for label, weight in closed.MIX.items():
        if weight:
            closed.photos(label)  # generated before the clock starts
    handle = open(FLOWS_CSV, "w", newline="")  # noqa: SIM115 - open for the whole run
    _flows = csv.writer(handle, lineterminator="\n")
    _flows.writerow(
        ["step", "rate", "sent_at_s", "outcome", "upload_to_done_ms", "why", "image_id"]
    )
    RUN.started = time.monotonic()
    RUN.next_at = 0.0
    gevent.spawn(_sample_queue, handle)


def _sample_queue(flows: Any) -> None:
    """One row a second: the counts, and the images acknowledged but not done yet."""
    with open(QUEUE_CSV, "w", newline="") as handle:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(
            ["t_s", "unix_s", "step", "rate", "sent", "acked", "done", "failed", "in_flight"]
        )
        while True:
            step = -1 if RUN.draining else RUN.step
            out.writerow(
                [
                    f"{RUN.now():.1f}",
                    f"{time.time():.1f}",  # the bench lines its CPU snapshots up with it
                    step,
                    RUN.rate,
                    RUN.sent,
                    RUN.acked,
                    RUN.done,
                    RUN.failed,
                    RUN.in_flight,
                ]
            )
            handle.flush()
            flows.flush()
            gevent.sleep(1.0)


class StepRates(LoadTestShape):
    """Every user from the start; the rate they pace at steps up; then a drain."""

    def tick(self) -> tuple[int, float] | None:
        elapsed = RUN.now()
        RUN.step = min(int(elapsed // STEP_S), len(RATES))
        if RUN.step < len(RATES):
            return USERS, float(USERS)
        RUN.draining = True
        drained = RUN.in_flight <= 0
        if drained or elapsed > STEP_S * len(RATES) + DRAIN_S:
            return None
        return 0, float(USERS)  # users stop sending; followers carry on


class OpenLoopUploader(HttpUser):
    """Takes the next arrival time off the run's schedule, sends an upload then, and
    hands it to a follower. Users only carry the arrivals: with enough of them, the
    uploads go out on the schedule whatever the answers take."""

    wait_time = constant(0)

    def on_start(self) -> None:
        closed.carry_token(self)
        closed.check_certificate(self)

    @task
    def upload(self) -> None:
        if RUN.draining:
            return
        at = RUN.ticket()
        gevent.sleep(max(0.0, at - RUN.now()))
        step = int(at // STEP_S)
        if step >= len(RATES):
            return
        labels = [label for label, weight in closed.MIX.items() if weight]
        label = random.choices(labels, [closed.MIX[label] for label in labels])[0]
        photo = random.choice(closed.photos(label))
        sent_at = RUN.now()
        started = time.perf_counter()
        RUN.sent += 1
        try:
            image_id = closed.Uploader.upload(self, photo)  # type: ignore[arg-type]
        except closed.FlowFailed as error:
            RUN.failed += 1
            closed.fire_flow(self, started, error)
            _record_flow(step, sent_at, "failed", None, str(error))
            return
        RUN.acked += 1
        gevent.spawn(self._follow, image_id, step, sent_at, started)

    def _follow(self, image_id: str, step: int, sent_at: float, started: float) -> None:
        """Poll the image until `done` (or failed, or the timeout): one flow."""
        pause = POLL_FIRST
        deadline = time.monotonic() + closed.DONE_TIMEOUT
        try:
            while True:
                body = closed.Uploader.get_image(self, image_id)  # type: ignore[arg-type]
                if body["status"] == "done":
                    break
                if time.monotonic() > deadline:
                    raise closed.FlowFailed(f"not done after {closed.DONE_TIMEOUT:.0f} s")
                gevent.sleep(pause)
                pause = min(pause * 1.5, POLL_MAX)
        except closed.FlowFailed as error:
            RUN.failed += 1
            closed.fire_flow(self, started, error)
            _record_flow(step, sent_at, "failed", None, str(error), image_id)
            return
        ms = (time.perf_counter() - started) * 1000
        RUN.done += 1
        closed.fire_flow(self, started, None)
        _record_flow(step, sent_at, "done", ms, "", image_id)
