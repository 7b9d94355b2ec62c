"""Did the fault take effect? Judged from the journal alone, before any other verdict.

A fault injector that silently does nothing must fail the experiment, so each fault
names a rule (`faults.Fault.effect`) whose evidence comes from outside the injector:

- `silent`: a killed or frozen VM stops answering the observer, for at least
  `SILENCE_S` inside [injected, rollback]; on real VMs (SSH reaches a black-holed VM,
  so its sampler goes on) the majority seeing it failed counts instead;
- `members-failed`: a VM the fault spared saw every VM hit as failed in Consul;
- `unit-inactive`: every stopped unit was inactive on every VM hit;
- `container-replaced`: the task's container after the kill is another one;
- `clear-503`: at least one upload inside the window failed with the service's 503;
- `toxic-slow`: the toxic read back from Toxiproxy inside the window, and uploads
  inside it slower at the median than before the fault by at least `min_added_s` (a
  param of the experiment, in the fault event);
- `toxic-503`: the toxic read back, and an upload inside the window refused with the
  service's 503;
- `disk-full`, `clock-skewed`: the VM hit seen with < 1 MiB free, or its clock off;
- `silent-during-rollout`: `silent`, and a deployment of the new version still running
  after the kill;
- `release-reverted`: the bad release's tasks crashed and Nomad rolled it back itself.
"""

from __future__ import annotations

import statistics
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
    "toxic-slow": "the toxic installed and uploads slower inside the window",
    "toxic-503": "the toxic installed and an upload refused with the service's 503",
    "disk-full": "every VM hit < 1 MiB free",
    "clock-skewed": "every VM hit's clock off by ≥ half the jump",
    "silent-during-rollout": f"every VM hit silent ≥ {SILENCE_S:g} s while its rollout ran",
    "release-reverted": "the release crashed and Nomad rolled it back",
}
MIN_UPLOADS_TO_COMPARE = 3  # uploads before and inside the window for a median each
DEFAULT_MIN_ADDED_S = 0.2


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


def _last_look(history: History, rule: str) -> str:
    looked = [
        e.detail for e in history.events if e.name == "effect" and e.detail.get("rule") == rule
    ]
    return f"last: {looked[-1] if looked else 'no look'}"


def _clear_503s(history: History, t0: float, t1: float) -> int:
    return sum(
        1
        for op in history.ops
        if op.kind == "upload" and not op.ok and op.clear_503 and t0 <= op.start <= t1
    )


def _toxic(history: History, t0: float, t1: float) -> tuple[Event | None, str]:
    seen = _seen(history, "toxic", t0, t1)
    if seen:
        names = [t.get("name") for t in seen[0].detail.get("toxics", [])]
        return seen[0], f"on {seen[0].detail.get('proxy')}: {', '.join(map(str, names))}"
    return None, f"the toxic was never read back from Toxiproxy ({_last_look(history, 'toxic')})"


def _slower(
    history: History, start: float, fault_t: float, t0: float, t1: float, need: float
) -> Effect:
    """Uploads inside [t0, t1] slower at the median than before the fault, by `need`."""
    before = [
        op.latency
        for op in history.ops
        if op.kind == "upload" and op.ok and start <= op.start < fault_t
    ]
    inside = [
        op.latency for op in history.ops if op.kind == "upload" and op.ok and t0 <= op.start <= t1
    ]
    if min(len(before), len(inside)) < MIN_UPLOADS_TO_COMPARE:
        return _none(
            f"too few answered uploads to compare ({len(before)} before, {len(inside)} inside; "
            f"want {MIN_UPLOADS_TO_COMPARE} each)"
        )
    was, now = statistics.median(before), statistics.median(inside)
    got = f"upload p50 {was:.2f} s before, {now:.2f} s inside "
    got += f"(+{now - was:.2f} s, want ≥ +{need:g} s)"
    return Effect(now - was >= need, got if now - was >= need else f"fault had no effect: {got}")


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
        refused = _clear_503s(history, fault.t, t1)
        if refused:
            return Effect(True, f"{refused} uploads refused with the service's 503")
        return _none("no upload inside the window was refused with the service's 503")
    params = fault.detail.get("params") or {}
    if rule in ("toxic-slow", "toxic-503"):
        toxic, said = _toxic(history, t0, t1)
        if toxic is None:
            return _none(said)
        if rule == "toxic-503":
            refused = _clear_503s(history, fault.t, t1)
            if refused:
                return Effect(True, f"{said}; {refused} uploads refused with the service's 503")
            return _none(
                f"{said}, but no upload inside the window was refused with the service's 503"
            )
        start = history.time_of("start") or min((op.start for op in history.ops), default=fault.t)
        need = float(params.get("min_added_s", DEFAULT_MIN_ADDED_S))
        slower = _slower(history, start, fault.t, t0, t1, need)
        return Effect(
            slower.ok, f"{said}; {slower.got}" if slower.ok else slower.got + f" ({said})"
        )
    if rule == "release-reverted":
        seen = _seen(history, rule, t0)
        if seen:
            crashed = seen[0].detail.get("crashed", [])
            return Effect(
                True, f"{len(crashed)} allocations crashed; Nomad: {seen[0].detail.get('reverted')}"
            )
        return _none(f"Nomad never rolled the release back itself ({_last_look(history, rule)})")
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
    if rule == "silent-during-rollout":
        silent = _silent(history, hit, t0, t1, fault.detail.get("backend") == "ssh")
        running = _seen(history, "rollout-running", t0, t1)
        if not silent.ok:
            return silent
        if not running:
            return _none(f"{silent.got}, but no rollout was still running after the kill")
        d = running[0].detail
        got = f"{silent.got} while deployment {d.get('deployment')} of v{d.get('version')} ran"
        state = history.event("rollout-state")  # where the rollout stood at the rollback
        if state is not None:
            got += f"; at the rollback: {state.detail.get('status')} "
            got += f"({state.detail.get('description')})"
        return Effect(True, got)
    if rule in ("disk-full", "clock-skewed"):
        seen = _seen(history, rule, t0, t1)
        if seen:
            what = seen[0].detail.get("free") or seen[0].detail.get("skew_s")
            return Effect(True, f"{seen[0].t - t0:.1f} s in: {what}")
        want = "had < 1 MiB free" if rule == "disk-full" else "read a jumped clock"
        return _none(f"{', '.join(hit)} never {want} ({_last_look(history, rule)})")
    if rule == "container-replaced":
        seen = _seen(history, rule, t0)
        if seen:
            return Effect(True, f"replaced {seen[0].t - t0:.1f} s after the kill")
        return _none(f"the task's container on {', '.join(hit)} was never replaced")
    return _none(f"no rule to tell ({rule!r})")
