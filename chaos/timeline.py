"""The cluster's view over time, rebuilt from the observers' samples (pure functions).

At any moment each VM's latest sample (if recent enough) says whom it names as Consul
and Nomad leader and whether it holds the floating IP. These functions answer "who
led, who held the VIP, and when did that change" for the checkers and the plot.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise

from chaos.journal import Sample

STALE_S = 1.0  # a sample older than this says nothing about now


@dataclass(frozen=True)
class View:
    t: float
    answered: frozenset[str]  # VMs with a recent sample
    consul: str | None  # the leader every answering VM names; "" none; "split" disagree
    nomad: str | None
    vip: tuple[str, ...]  # VMs holding the floating IP


def _agreed(values: Iterable[str | None]) -> str | None:
    """The one leader the answering VMs name; a VM that knows of none ("") does not
    contradict the others; two different leaders named are a split."""
    answered = [v for v in values if v is not None]
    named = {v for v in answered if v}
    if len(named) > 1:
        return "split"
    if named:
        return named.pop()
    return "" if answered else None


def view_at(samples: list[Sample], t: float, stale: float = STALE_S) -> View:
    """The cluster as seen at `t` from samples sorted by time."""
    latest: dict[str, Sample] = {}
    for sample in samples:
        if sample.t > t:
            break
        if t - sample.t <= stale:
            latest[sample.node] = sample
    return View(
        t=t,
        answered=frozenset(latest),
        consul=_agreed(s.consul_leader for s in latest.values()),
        nomad=_agreed(s.nomad_leader for s in latest.values()),
        vip=tuple(sorted(n for n, s in latest.items() if s.vip)),
    )


def views(samples: list[Sample], t0: float, t1: float, step: float = 0.25) -> list[View]:
    ordered = sorted(samples, key=lambda s: s.t)
    count = max(0, int((t1 - t0) / step)) + 1
    return [view_at(ordered, t0 + i * step) for i in range(count)]


def majority(samples: list[Sample], before: float, field: str, window: float = 2.0) -> str | None:
    """The value most VMs reported for `field` in the `window` seconds before `before`."""
    latest: dict[str, Sample] = {}
    for sample in sorted(samples, key=lambda s: s.t):
        if before - window <= sample.t <= before:
            latest[sample.node] = sample
    values = Counter(
        getattr(s, field) for s in latest.values() if getattr(s, field) not in (None, "")
    )
    return values.most_common(1)[0][0] if values else None


def vip_holder(samples: list[Sample], before: float, window: float = 2.0) -> str | None:
    latest: dict[str, Sample] = {}
    for sample in sorted(samples, key=lambda s: s.t):
        if before - window <= sample.t <= before:
            latest[sample.node] = sample
    holders = sorted(n for n, s in latest.items() if s.vip)
    return holders[0] if len(holders) == 1 else None


def time_to_leader(
    samples: list[Sample],
    field: str,
    since: float,
    survivors: set[str],
    old_leader: str | None,
) -> float | None:
    """Seconds from `since` until a surviving VM names a surviving leader, when the fault
    hit the old leader; None when the old leader was not hit (no election needed)."""
    if old_leader in survivors:
        return None
    for sample in sorted(samples, key=lambda s: s.t):
        if sample.t < since or sample.node not in survivors:
            continue
        leader = getattr(sample, field)
        if leader in survivors and (old_leader in survivors or leader != old_leader):
            return sample.t - since
    return None


def longest_leaderless(
    samples: list[Sample], field: str, t0: float, t1: float, voters: set[str]
) -> float:
    """The longest stretch of [t0, t1] in which no VM of `voters` named a leader among
    `voters` (how long the majority side went without a leader)."""
    good = sorted(
        s.t for s in samples if t0 <= s.t <= t1 and s.node in voters and getattr(s, field) in voters
    )
    marks = [t0, *good, t1]
    return max(b - a for a, b in pairwise(marks))


def vip_move_time(samples: list[Sample], since: float, old_holder: str | None) -> float | None:
    """Seconds from `since` until a VM other than `old_holder` holds the floating IP."""
    for sample in sorted(samples, key=lambda s: s.t):
        if sample.t >= since and sample.vip and sample.node != old_holder:
            return sample.t - since
    return None


def changes(values: list[tuple[float, str | None]]) -> list[tuple[float, str | None]]:
    """The (time, value) points where a series changes value."""
    out: list[tuple[float, str | None]] = []
    for t, value in values:
        if not out or out[-1][1] != value:
            out.append((t, value))
    return out


def leader_changes(samples: list[Sample], field: str, t0: float, t1: float) -> int:
    """How many times the leader the VMs agree on changed to another VM in [t0, t1]."""
    agreed = [getattr(v, field.split("_")[0]) for v in views(samples, t0, t1)]
    named = [value for value in agreed if value not in (None, "", "split")]
    return sum(1 for a, b in pairwise(named) if a != b)
