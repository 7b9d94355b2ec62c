"""The history of one experiment: every operation, every cluster sample, every event.

Written as JSON lines so a run can be re-checked and re-plotted without the cluster.
Times are seconds since the epoch on the controller's clock (one clock for all).
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Op:
    """One request of the steady client, as the user saw it."""

    kind: str  # upload | status | read | verify
    start: float
    end: float
    ok: bool
    status: int | None = None  # HTTP status, None when no answer came
    error: str | None = None  # why it failed, short
    node: str | None = None  # X-Served-By
    image: str | None = None  # image id the op concerns
    detail: str | None = None  # e.g. the variant read, the status seen
    # Added with the history checker; absent from older journals, hence the defaults.
    edge: str | None = None  # X-Edge: the VM whose HAProxy answered (through the VIP)
    clear_503: bool = False  # a 503 from the service itself: JSON `error` and X-Served-By
    key: str | None = None  # an upload's Idempotency-Key
    sha256: str | None = None  # of the bytes an upload sent
    size: list[int] | None = None  # width, height of the image an upload sent
    filename: str | None = None  # an upload's file name, unique per upload
    attempts: int = 1  # an upload cut off without an answer is sent once more, same key
    first_error: str | None = None  # why the first attempt of a retried upload failed
    indeterminate: bool = False  # no final answer: the upload may or may not be stored

    @property
    def latency(self) -> float:
        return self.end - self.start


@dataclass
class Sample:
    """What one VM said about the cluster at one moment (received at `t`)."""

    t: float
    node: str
    consul_leader: str | None  # node name, "" when it knows of no leader, None: no answer
    nomad_leader: str | None
    vip: bool


@dataclass
class Event:
    """A mark on the timeline: fault injected, rolled back, cluster healthy again..."""

    t: float
    name: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class History:
    ops: list[Op] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def event(self, name: str) -> Event | None:
        return next((e for e in self.events if e.name == name), None)

    def time_of(self, name: str) -> float | None:
        found = self.event(name)
        return found.t if found else None


class Journal:
    """A thread-safe, append-only history that can be written to and read from disk."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.history = History()

    def op(self, op: Op) -> None:
        with self._lock:
            self.history.ops.append(op)

    def sample(self, sample: Sample) -> None:
        with self._lock:
            self.history.samples.append(sample)

    def event(self, t: float, name: str, **detail: Any) -> None:
        with self._lock:
            self.history.events.append(Event(t, name, dict(detail)))

    def snapshot(self) -> History:
        with self._lock:
            return History(
                list(self.history.ops), list(self.history.samples), list(self.history.events)
            )

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        history = self.snapshot()
        with path.open("w") as out:
            for kind, items in (
                ("op", history.ops),
                ("sample", history.samples),
                ("event", history.events),
            ):
                for item in items:
                    out.write(json.dumps({"type": kind, **asdict(item)}) + "\n")


def read_history(path: Path) -> History:
    """Load a journal written by `Journal.write`."""
    history = History()
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            kind = record.pop("type")
        except (ValueError, KeyError) as exc:
            raise ValueError(f"{path}:{number}: not a journal record: {line[:80]!r}") from exc
        try:
            if kind == "event":
                history.events.append(Event(**record))
            elif kind == "op":
                history.ops.append(Op(**record))
            elif kind == "sample":
                history.samples.append(Sample(**record))
            else:
                raise ValueError(f"unknown record type {kind!r}")
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}:{number}: {exc}") from exc
    return history
