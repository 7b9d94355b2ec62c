"""A step past the knee: what the cluster resizes when it is kept busy.

The scaling run (loadbench.scaling) runs one such step for each number of worker VMs.
Uploads arrive in open loop faster than the cluster resizes (the knee's Locust file at
one rate); what was resized is read from the workers' own counts, not from what the
load generator saw (see DoneCounter), and the backlog is waited out before the next
step.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from deploy.site import tls_context
from loadbench import knee, openloop, workers
from loadbench.nomad import Nomad, NomadError
from loadbench.target import Target

# A saturated step leaves a backlog: up to rate x step / 2 images for the drain.
SATURATED_DRAIN_S = 300


class DoneCounter:
    """The workers' own count of finished images, read every few seconds in a thread
    while Locust runs: under saturation the followers' status polls meet HAProxy's
    per-client limits (one load generator, hundreds of uploads in flight), so what the
    cluster resized is read from the workers, not from what the followers saw."""

    EVERY_S = 2.0

    def __init__(self, nomad: Nomad) -> None:
        self.nomad = nomad
        self.samples: list[tuple[float, dict[str, float]]] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append((time.time(), workers.worker_jobs(
                    self.nomad, counted=workers.DONE_JOBS)))  # fmt: skip
            except (NomadError, OSError) as error:
                self.errors.append(str(error))
            self._stop.wait(self.EVERY_S)

    def __enter__(self) -> DoneCounter:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def wait_settled(
    url: str, flows: Sequence[knee.Flow], ca: Path | None = None, timeout_s: float = 600.0
) -> float:
    """Wait until the run's last uploads are no longer pending (the queue is FIFO, so
    the newest finish last); the seconds it took. A saturated step leaves a backlog
    its followers may have given up on: the next step must not start on top of it.
    HTTPS is checked against `ca` (deploy.site; None: the system's roots)."""
    context = tls_context(ca)
    newest = [f.image_id for f in sorted(flows, key=lambda f: f.sent_at_s) if f.image_id][-5:]
    started = time.monotonic()
    deadline = started + timeout_s
    while newest:
        try:
            with urllib.request.urlopen(
                f"{url.rstrip('/')}/api/images/{newest[-1]}", timeout=10, context=context
            ) as answer:
                status = json.load(answer).get("status")
        except urllib.error.HTTPError as error:
            status = "gone" if error.code == 404 else None
        except (OSError, ValueError):
            status = None
        if status in ("done", "failed", "gone"):
            newest.pop()
            continue
        if time.monotonic() > deadline:
            raise RuntimeError(f"uploads still pending {timeout_s:.0f} s after the run: {newest}")
        time.sleep(1.0)
    return round(time.monotonic() - started, 1)


def saturate(
    target: Target, nomad: Nomad, rate: float, step_s: float, mix: str, out: Path, name: str
) -> dict[str, Any]:
    """One step at a rate past the knee: what the cluster resizes when kept busy.

    Throughput is what the workers finished in the step's second half (the first half
    fills the queue), by their own metrics; the run then drains and waits for the
    backlog, so the next step starts from an empty queue.
    """
    with DoneCounter(nomad) as counter:
        recorded = openloop.open_loop(
            target, [rate], step_s, mix, out, name, drain_s=SATURATED_DRAIN_S, poll_max_s=5.0
        )
    (found,) = knee.steps([rate], step_s, recorded.flows, recorded.queue)
    zero = recorded.queue[0].unix_s - recorded.queue[0].t_s if recorded.queue else 0.0
    resized = workers.resized_between(counter.samples, zero + step_s / 2, zero + step_s)
    if resized is None:
        raise RuntimeError(
            f"the workers' finished jobs could not be read during the step: {counter.errors[-3:]}"
        )
    settled_s = wait_settled(target.url, recorded.flows, target.ca)
    cleanup = openloop.delete_uploads(target, recorded.flows)
    return {
        "rate_per_s": rate,
        "resized_per_s": resized,
        "resized_basis": "the workers' imgcloud_jobs_total{outcome=done}, 2nd half of the step",
        "seen_done_by_followers_per_s": knee.resized_per_s(recorded.flows, step_s / 2, step_s),
        "saturated": not found.sustained,
        "step": found.as_json(),
        "machine_during_run": recorded.machine,
        "backlog_settled_after_s": settled_s,
        "cleanup": cleanup,
        "files": recorded.files,
    }
