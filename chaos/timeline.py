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


def _first_namings(
    samples: list[Sample], field: str, since: float, survivors: set[str]
) -> dict[str, float]:
    """Surviving VM -> when it first named a surviving leader at or after `since`."""
    named: dict[str, float] = {}
    for sample in sorted(samples, key=lambda s: s.t):
        fresh = sample.t >= since and sample.node in survivors and sample.node not in named
        if fresh and getattr(sample, field) in survivors:
            named[sample.node] = sample.t
    return named


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
    named = _first_namings(samples, field, since, survivors)
    return min(named.values()) - since if named else None


def time_all_name_leader(
    samples: list[Sample],
    field: str,
    since: float,
    survivors: set[str],
    old_leader: str | None,
) -> float | None:
    """Seconds from `since` until every surviving VM has named a surviving leader (the
    first one to do so is `time_to_leader`); None when the old leader was not hit, or
    when some survivor never named one."""
    if old_leader in survivors:
        return None
    named = _first_namings(samples, field, since, survivors)
    if not survivors or set(named) != survivors:
        return None
    return max(named.values()) - since


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


def holder_spans(samples: list[Sample], valid: float) -> dict[str, list[tuple[float, float]]]:
    """When each VM held the floating IP: a sample saying so holds until that VM's next
    sample, and at most `valid` seconds (a VM that stops answering says nothing more)."""
    spans: dict[str, list[tuple[float, float]]] = {}
    by_vm: dict[str, list[Sample]] = {}
    for sample in sorted(samples, key=lambda s: s.t):
        by_vm.setdefault(sample.node, []).append(sample)
    for vm, own in by_vm.items():
        followed: list[Sample | None] = [*own, None]
        for said, after in pairwise(followed):
            if said is not None and said.vip:
                end = said.t + valid if after is None else min(after.t, said.t + valid)
                spans.setdefault(vm, []).append((said.t, end))
    return spans


def two_holders(samples: list[Sample], valid: float) -> list[tuple[float, float, list[str]]]:
    """The stretches in which two or more VMs held the floating IP at once, with who."""
    edges = sorted(
        (t, step, vm)
        for vm, spans in holder_spans(samples, valid).items()
        for a, b in spans
        for t, step in ((a, 1), (b, -1))
    )
    held: Counter[str] = Counter()
    out: list[tuple[float, float, list[str]]] = []
    for (t, step, vm), following in pairwise([*edges, (float("inf"), 0, "")]):
        held[vm] += step
        holders = sorted(v for v, n in held.items() if n > 0)
        if following[0] <= t or following[0] == float("inf") or len(holders) < 2:
            continue
        if out and out[-1][1] == t:
            out[-1] = (out[-1][0], following[0], sorted({*out[-1][2], *holders}))
        else:
            out.append((t, following[0], holders))
    return out


def split_brain(
    samples: list[Sample],
    valid: float,
    longer_than: float,
    excused: tuple[float, float] | list[tuple[float, float]] | None = None,
) -> list[tuple[float, float, list[str]]]:
    """Two holders for longer than `longer_than` seconds outside the `excused` stretch
    (or stretches: a nemesis run forgives the fencing delay after each of its faults)."""
    stretches = [excused] if isinstance(excused, tuple) else list(excused or [])
    pieces = two_holders(samples, valid)
    for start, end in stretches:
        kept: list[tuple[float, float, list[str]]] = []
        for a, b, vms in pieces:
            if b <= start or a >= end:
                kept.append((a, b, vms))
                continue
            kept += [(a, start, vms)] if a < start else []
            kept += [(end, b, vms)] if b > end else []
        pieces = kept
    return [(a, b, vms) for a, b, vms in pieces if b - a > longer_than]


def longest_gap(marks: list[float], t0: float, t1: float) -> float:
    """The longest stretch of [t0, t1] between consecutive `marks` (sorted inside)."""
    inside = sorted(m for m in marks if t0 <= m <= t1)
    return max(b - a for a, b in pairwise([t0, *inside, t1]))
