"""Which VMs a fault hits, chosen from the cluster's view just before the fault."""

from __future__ import annotations

from collections.abc import Callable

from chaos import timeline
from chaos.journal import Sample
from chaos.target import Target


class SelectionError(RuntimeError):
    """The cluster's state does not allow the selection (e.g. nobody holds the VIP)."""


def _holder(samples: list[Sample], at: float) -> str:
    holder = timeline.vip_holder(samples, at)
    if holder is None:
        raise SelectionError("no single VM holds the floating IP; cannot choose")
    return holder


def _leader(samples: list[Sample], at: float, field: str = "consul_leader") -> str | None:
    return timeline.majority(samples, at, field)


def _not_vip_holder(target: Target, samples: list[Sample], at: float) -> list[str]:
    """A VM that holds no floating IP and, when one exists, leads neither Consul nor Nomad."""
    holder = _holder(samples, at)
    leaders = {timeline.majority(samples, at, f) for f in ("consul_leader", "nomad_leader")}
    others = [n for n in target.names() if n != holder]
    calm = [n for n in others if n not in leaders]
    return [(calm or others)[0]]


def _vip_holder_and_one(target: Target, samples: list[Sample], at: float) -> list[str]:
    holder = _holder(samples, at)
    others = [n for n in target.names() if n != holder]
    if not others:
        raise SelectionError("the cluster has a single VM")
    return [holder, others[0]]


def _leader_of(system: str) -> Callable[[Target, list[Sample], float], list[str]]:
    def select(target: Target, samples: list[Sample], at: float) -> list[str]:
        leader = _leader(samples, at, f"{system}_leader")
        if leader not in target.names():
            raise SelectionError(f"the VMs name no {system.title()} leader ({leader!r})")
        return [leader]

    return select


SELECTORS: dict[str, Callable[[Target, list[Sample], float], list[str]]] = {
    "vip-holder": lambda target, samples, at: [_holder(samples, at)],
    "not-vip-holder": _not_vip_holder,
    "vip-holder-and-one": _vip_holder_and_one,
    "consul-leader": _leader_of("consul"),
    "nomad-leader": _leader_of("nomad"),
    "all": lambda target, samples, at: target.names(),
    "provider": lambda target, samples, at: [],
    "none": lambda target, samples, at: [],  # a fault of the cluster's jobs, not of a VM
}
