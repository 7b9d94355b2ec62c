"""Did the fault take effect? Judged from the journal alone, before any other verdict.

A fault injector that silently does nothing must fail the experiment, so each fault
names a rule (`faults.Fault.effect`) whose evidence comes from outside the injector:

- `silent`: a killed or frozen VM stops answering the observer, for at least
  `SILENCE_S` inside [injected, rollback]; on real VMs (SSH reaches a black-holed VM,
  so its sampler goes on) the majority seeing it failed counts instead;
- `members-failed`: a VM the fault spared saw every VM hit as failed in Consul;
- `unit-inactive`: every stopped unit was inactive on every VM hit;
- `container-replaced`: the task's container after the kill is another one;
- `clear-503`: at least one upload inside the window failed with the service's 503.
"""

from __future__ import annotations

from dataclasses import dataclass

from chaos import timeline
from chaos.journal import Event, History

SILENCE_S = 2.0  # a VM that answered within every 2 s of the fault was not killed

WANT = {
    "silent": f"every VM hit silent ≥ {SILENCE_S:g} s",
    "members-failed": "every VM hit seen failed by the majority",
    "unit-inactive": "the stopped units inactive",
    "container-replaced": "a new container",
    "clear-503": "an upload refused with the service's 503",
}


@dataclass(frozen=True)
class Effect:
    ok: bool
    got: str


def _none(why: str) -> Effect:
    return Effect(False, f"fault had no effect: {why}")


def _seen(history: History, rule: str, t0: float, t1: float | None = None) -> list[Event]:
    return [
        e
        for e in history.events
        if e.name == "effect"
        and e.detail.get("rule") == rule
        and e.detail.get("seen")
        and t0 <= e.t <= (t1 if t1 is not None else float("inf"))
    ]


def _members(history: History, hit: list[str], t0: float, t1: float) -> Effect:
    seen = _seen(history, "members-failed", t0, t1)
    if seen and set(hit) <= set(seen[0].detail.get("failed", [])):
        by = seen[0].detail.get("vm", "?")
        return Effect(True, f"{', '.join(hit)} seen failed by {by} {seen[0].t - t0:.1f} s in")
    looked = [
        e for e in history.events if e.name == "effect" and e.detail.get("rule") == "members-failed"
    ]
    last = looked[-1].detail if looked else {}
    return _none(f"{', '.join(hit)} never seen failed by the majority (last: {last or 'no look'})")


def _silent(history: History, hit: list[str], t0: float, t1: float, ssh: bool) -> Effect:
    silences = {
        vm: timeline.longest_gap([s.t for s in history.samples if s.node == vm], t0, t1)
        for vm in hit
    }
    talking = [vm for vm, gap in silences.items() if gap < SILENCE_S]
    if not talking:
        quiet = ", ".join(f"{vm} {gap:.1f} s" for vm, gap in silences.items())
        return Effect(True, f"silent: {quiet}")
    if ssh:  # a black-holed VM still answers over SSH; the majority must see it failed
        return _members(history, hit, t0, t1)
    loud = ", ".join(f"{vm} (longest silence {silences[vm]:.2f} s)" for vm in talking)
    return _none(f"{loud} kept answering the observer")


def judge(history: History, rule: str | None) -> Effect:
    """The evidence that the fault took effect, or why there is none."""
    fault = history.event("fault")
    injected, rollback = history.time_of("injected"), history.time_of("rollback")
    if fault is None or injected is None:
        return _none("it was never injected")
    rule = rule or fault.detail.get("effect")
    t0, t1 = injected, rollback if rollback is not None else injected
    hit = list(fault.detail.get("vms", []))
    if rule == "clear-503":
        refused = [
            op
            for op in history.ops
            if op.kind == "upload" and not op.ok and op.clear_503 and fault.t <= op.start <= t1
        ]
        if refused:
            return Effect(True, f"{len(refused)} uploads refused with the service's 503")
        return _none("no upload inside the window was refused with the service's 503")
    if not hit:
        return _none("no VM was hit")
    if rule == "silent":
        return _silent(history, hit, t0, t1, fault.detail.get("backend") == "ssh")
    if rule == "members-failed":
        return _members(history, hit, t0, t1)
    if rule == "unit-inactive":
        seen = _seen(history, rule, t0, t1)
        if seen:
            units = seen[0].detail.get("units", {})
            return Effect(True, f"inactive {seen[0].t - t0:.1f} s in: {units}")
        return _none(f"the units stayed active on {', '.join(hit)}")
    if rule == "container-replaced":
        seen = _seen(history, rule, t0)
        if seen:
            return Effect(True, f"replaced {seen[0].t - t0:.1f} s after the kill")
        return _none(f"the task's container on {', '.join(hit)} was never replaced")
    return _none(f"no rule to tell ({rule!r})")
