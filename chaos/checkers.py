"""Checkers over one experiment's history (pure: the journal in, figures and verdicts out).

Figures are what a person asks after a fault: did we lose anything, how many requests
failed, for how long, how fast did the cluster elect and move the floating IP, how
long until it was whole again. Verdicts compare them with the experiment's `Expect`.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict
from itertools import pairwise
from typing import Any

from chaos import cloudip, effects, timeline
from chaos.experiments import FENCING_DELAY_S, SAMPLE_VALID_S, SPLIT_BRAIN_S, Expect
from chaos.history import judge as judge_uploads
from chaos.journal import History, Op
from chaos.verdict import Verdict

CLIENT_KINDS = ("upload", "status", "read")


def client_ops(history: History) -> list[Op]:
    return sorted((op for op in history.ops if op.kind in CLIENT_KINDS), key=lambda o: o.start)


def error_windows(ops: list[Op]) -> list[tuple[float, float, int]]:
    """Runs of failed operations with no success started in between, by start time:
    (first failure's start, last failure's end, failures)."""
    windows: list[tuple[float, float, int]] = []
    run: list[Op] = []
    for op in sorted(ops, key=lambda o: o.start):
        if not op.ok:
            run.append(op)
            continue
        if run:
            windows.append((run[0].start, max(o.end for o in run), len(run)))
            run = []
    if run:
        windows.append((run[0].start, max(o.end for o in run), len(run)))
    return windows


def longest_success_gap(ops: list[Op], t0: float, t1: float) -> float:
    """The longest stretch of [t0, t1] in which no operation completed successfully."""
    ends = sorted(op.end for op in ops if op.ok and t0 <= op.end <= t1)
    marks = [t0, *ends, t1]
    return max(b - a for a, b in pairwise(marks))


def latency_by_second(ops: list[Op], hit_t: float, rollback_t: float) -> dict[str, Any]:
    """For each second from the fault in place to the rollback: the slowest operation
    started in it (None: none started) and how many started."""
    seconds = max(0, math.ceil(rollback_t - hit_t))
    slowest: list[float | None] = [None] * seconds
    started = [0] * seconds
    for op in ops:
        i = math.floor(op.start - hit_t)
        if 0 <= i < seconds and op.start <= rollback_t:
            started[i] += 1
            slowest[i] = max(slowest[i] or 0.0, op.latency)
    return {"window_latency_s": slowest, "window_started": started}


def resize_recovery(history: History, since: float) -> float | None:
    """Seconds from `since` until an upload started after it was seen done."""
    started = {
        op.image: op.start
        for op in history.ops
        if op.kind == "upload" and op.ok and op.image and op.start >= since
    }
    done = [
        op.end
        for op in history.ops
        if op.kind in ("status", "verify") and op.detail == "done" and op.image in started
    ]
    return min(done) - since if done else None


def fault_in_place(history: History, fault_t: float, hit: set[str]) -> float:
    """When the fault took hold. The injection command returns late on a loaded machine,
    so when the VMs hit went silent, their last sample (the last sign of life, at most
    one sampling period before they died) is the origin; otherwise the command's return."""
    injected = history.time_of("injected") or fault_t
    hit_samples = [s.t for s in history.samples if s.node in hit]
    alive_before = [t for t in hit_samples if fault_t <= t <= injected]
    silent_after = not any(injected < t <= injected + 1.0 for t in hit_samples)
    if alive_before and silent_after:
        return max(alive_before)
    return injected


def _window_traffic(ops: list[Op], t0: float, t1: float) -> dict[str, int]:
    inside = [op for op in ops if t0 <= op.start <= t1]
    return {
        "window_uploads": sum(1 for op in inside if op.kind == "upload"),
        "window_reads": sum(1 for op in inside if op.kind in ("status", "read")),
    }


def vip_move(history: History, ops: list[Op], since: float) -> dict[str, Any]:
    """When the floating IP moved: the first success answered through it by another VM's
    HAProxy (X-Edge) than the one that held it; from the samples in journals without it."""
    old = timeline.vip_holder(history.samples, since)
    edged = [op for op in ops if op.edge]
    if not edged:
        moved = timeline.vip_move_time(history.samples, since, old)
        return {"vip_before": old, "vip_move_s": moved, "vip_move_source": "samples (no X-Edge)"}
    if old is None:  # the samples name no single holder: the VM that answered last
        before = [op.edge for op in edged if op.ok and op.end < since]
        old = before[-1] if before else None
    new = [op.end for op in edged if op.ok and op.end >= since and op.edge != old]
    moved = min(new) - since if new else None
    return {"vip_before": old, "vip_move_s": moved, "vip_move_source": "X-Edge"}


def split_brains(history: History, in_place: float | list[float] | None) -> list[list[Any]]:
    """[start, end, VMs] of every stretch with two VIP holders beyond the allowance; the
    fencing delay after the fault (after each, given a nemesis run's list) is forgiven."""
    starts = [] if in_place is None else in_place if isinstance(in_place, list) else [in_place]
    excused = [(t, t + FENCING_DELAY_S) for t in starts]
    found = timeline.split_brain(history.samples, SAMPLE_VALID_S, SPLIT_BRAIN_S, excused)
    return [[a, b, vms] for a, b, vms in found]


def leaderless(
    history: History,
    field: str,
    t0: float,
    rollback_t: float,
    t1: float,
    vms: set[str],
    hit: set[str],
) -> float | None:
    """The longest stretch of [t0, t1] without a leader: until the rollback the VMs the
    fault spared must name one of themselves; after it, any VM names any VM."""
    survivors = vms - hit
    if not survivors or t1 <= t0:
        return None
    marks = [
        s.t
        for s in history.samples
        if (s.t <= rollback_t and s.node in survivors and getattr(s, field) in survivors)
        or (s.t > rollback_t and getattr(s, field) in vms)
    ]
    return timeline.longest_gap(marks, t0, t1)


def figures(history: History, vms: list[str], effect: str | None = None) -> dict[str, Any]:
    """Every number the report shows for one run. Windows run over the whole run: every
    failure before, during and after the fault counts. `effect`: the fault's rule for
    telling that it took effect (else the one the journal names)."""
    fault = history.event("fault")
    rule = effect or (fault.detail.get("effect") if fault else None)
    took = effects.judge(history, rule)
    start = history.time_of("start") or (history.ops[0].start if history.ops else 0.0)
    fault_t = fault.t if fault else start
    hit = set(fault.detail.get("vms", [])) if fault else set()
    hit_t = fault_in_place(history, fault_t, hit)
    rollback_t = history.time_of("rollback") or fault_t
    restored_t = history.time_of("restored") or rollback_t  # the rollback has completed
    healthy_t = history.time_of("healthy")
    end_t = history.time_of("end") or max((o.end for o in history.ops), default=fault_t)
    ops = client_ops(history)
    traffic_end = history.time_of("traffic-end") or max((o.end for o in ops), default=end_t)
    survivors = set(vms) - hit
    failed = [op for op in ops if not op.ok]
    windows = error_windows(ops)
    leaders = {
        f: timeline.majority(history.samples, fault_t, f) for f in ("consul_leader", "nomad_leader")
    }
    after_fault = [op for op in failed if op.end >= fault_t]
    some = bool(ops)  # no operation: nothing measured (every verdict over it fails)
    out: dict[str, Any] = {
        "effect": {"rule": rule, "ok": took.ok, "got": took.got},
        "start_t": start,
        "fault_t": fault_t if fault else None,
        "in_place_t": hit_t if fault else None,
        "vms_hit": sorted(hit),
        "ops": len(ops),
        "ops_by_kind": dict(Counter(op.kind for op in ops)),
        "failed": len(failed) if some else None,
        "failed_by_reason": dict(Counter(op.error or "?" for op in failed).most_common(6)),
        "failed_not_503": sum(1 for op in failed if not op.clear_503),
        "failed_after_rollback": sum(1 for op in failed if op.start > restored_t),
        "error_windows": len(windows) if some else None,
        "error_window_s": max((b - a for a, b, _ in windows), default=0.0) if some else None,
        "max_latency_s": max((op.latency for op in ops), default=0.0) if some else None,
        "success_gap_s": longest_success_gap(ops, fault_t, traffic_end) if some else None,
        **latency_by_second(ops, hit_t, rollback_t),
        "recovery_s": max((op.end for op in after_fault), default=fault_t) - fault_t,
        "heal_s": healthy_t - restored_t if healthy_t else None,
        "fault_s": rollback_t - fault_t,
        "duration_s": end_t - start,
        "acked": sum(1 for op in ops if op.kind == "upload" and op.ok),
        **_window_traffic(ops, fault_t, rollback_t),
        **judge_uploads(history).figures(),
        "resize_recovery_s": resize_recovery(history, hit_t),
        "leader_before": leaders["consul_leader"],
        **vip_move(history, ops, hit_t),
        "vip_samples": len(history.samples),
        "split_brain": split_brains(history, hit_t if fault else None),
        "cloud_ip": cloudip.figures(history, start, end_t),
    }
    for system in ("consul", "nomad"):
        field = f"{system}_leader"
        # An unknown leader counts as hit: a new one must then be seen elected.
        out[f"{system}_leader_hit"] = leaders[field] not in survivors
        # Elected when every survivor names the new leader (a client asking any of
        # them is then answered), not when the first one does.
        out[f"{system}_election_s"] = timeline.time_all_name_leader(
            history.samples, field, hit_t, survivors, leaders[field]
        )
        out[f"{system}_first_leader_s"] = timeline.time_to_leader(
            history.samples, field, hit_t, survivors, leaders[field]
        )
        out[f"{system}_leaderless_s"] = leaderless(
            history, field, hit_t, rollback_t, traffic_end, set(vms), hit
        )
        out[f"{system}_leader_changes"] = timeline.leader_changes(
            history.samples, field, start, end_t
        )
    out["last_failure_after_rollback_s"] = max(
        (op.start - restored_t for op in failed if op.start > restored_t), default=0.0
    )
    return out


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.2f} s"
    if isinstance(value, list):
        return str(len(value))
    return str(value)


def _bound(check: str, value: Any, limit: float | None, unit: str = " s") -> Verdict | None:
    if limit is None:
        return None
    ok = value is not None and value <= limit
    got = _fmt(value) if unit or value is None else str(value)
    return Verdict(check, f"≤ {limit:g}{unit}", got, ok)


def _election(system: str, fig: dict[str, Any], limit: float | None) -> Verdict | None:
    """Time to a new leader, where the fault took the old one; else nothing to elect."""
    check = f"new {system.title()} leader"  # named by every survivor
    if limit is None or fig.get(f"{system}_leader_hit", True):
        return _bound(check, fig[f"{system}_election_s"], limit)
    return Verdict(check, f"≤ {limit:g} s", "none needed: its leader was not hit", True)


def _found(check: str, want: str, fig: dict[str, Any], key: str) -> Verdict:
    """A history rule over the acknowledged uploads: none may be among `fig[key]`."""
    if not fig.get("acked"):
        return Verdict(check, want, "0 acknowledged uploads: nothing to judge", False)
    found: dict[str, str] = fig.get(key) or {}
    got = f"{len(found)} of {fig['acked']}"
    if found:
        got += ": " + "; ".join(f"{k}: {v}" for k, v in list(found.items())[:3])
    return Verdict(check, want, got, not found)


def history_verdicts(fig: dict[str, Any]) -> list[Verdict]:
    """Every acknowledged upload kept byte for byte, listed once; nothing half-made."""
    lost = _found("nothing acknowledged lost", "0 lost", fig, "lost_why")
    out = [lost, _found("originals as sent", "0 changed", fig, "changed")]
    out.append(_found("variants decode, fit, keep orientation", "0 wrong", fig, "bad_variants"))
    listed = _found("listed exactly once", "0 wrong", fig, "misslisted")
    listing = fig.get("listing_problem")
    if listing and fig.get("acked"):
        listed = Verdict(listed.check, listed.want, listing, False)
    out.append(listed)
    half = fig.get("half_made") or {}
    unacked = fig.get("unacked", 0)
    if listing and unacked:
        out.append(Verdict("no half-made upload", "0 half-made", listing, False))
    elif not unacked:
        out.append(
            Verdict("no half-made upload", "0 half-made", "none needed: every upload acked", True)
        )
    else:
        got = f"{len(half)} of {unacked} unacknowledged ({fig.get('indeterminate', 0)} "
        got += f"without an answer, {fig.get('unacked_stored', 0)} stored complete)"
        if half:
            got += ": " + "; ".join(f"{k}: {v}" for k, v in list(half.items())[:3])
        out.append(Verdict("no half-made upload", "0 half-made", got, not half))
    return out


def effect_verdict(fig: dict[str, Any]) -> Verdict:
    """Checked first: a fault that did nothing proves nothing."""
    took = fig.get("effect") or {}
    want = effects.WANT.get(took.get("rule") or "", "an effect seen from outside")
    got = took.get("got") or "fault had no effect: not judged"
    return Verdict("fault took effect", want, got, bool(took.get("ok")))


def traffic_verdict(expect: Expect, fig: dict[str, Any]) -> Verdict:
    want = (
        f"≥ {expect.min_acked} acknowledged uploads; in the fault window ≥ "
        f"{expect.min_window_uploads} uploads and ≥ {expect.min_window_reads} reads"
    )
    counts = (fig.get("acked", 0), fig.get("window_uploads", 0), fig.get("window_reads", 0))
    got = f"{counts[0]} acknowledged; in the window {counts[1]} uploads, {counts[2]} reads"
    need = (expect.min_acked, expect.min_window_uploads, expect.min_window_reads)
    ok = all(have >= least for have, least in zip(counts, need, strict=True))
    return Verdict("enough traffic", want, got if ok else f"too little traffic to judge: {got}", ok)


def routed_verdict(expect: Expect, fig: dict[str, Any]) -> Verdict:
    check = "routed around it"
    after = int(expect.routed_after_s or 0)
    want = (
        f"every operation started ≥ {after} s after the fault answered in "
        f"≤ {expect.max_routed_latency_s:g} s"
    )
    slowest = [v for v in (fig.get("window_latency_s") or [])[after:] if v is not None]
    count = sum((fig.get("window_started") or [])[after:])
    if not count or not slowest:
        return Verdict(check, want, "no operation started then: nothing to judge", False)
    latency = max(slowest)
    got = f"slowest {latency:.2f} s of {count}"
    return Verdict(check, want, got, latency <= float(expect.max_routed_latency_s or 0))


def split_brain_verdict(fig: dict[str, Any]) -> Verdict:
    want = (
        f"never two VIP holders > {SPLIT_BRAIN_S:g} s (after a {FENCING_DELAY_S:g} s fencing delay)"
    )
    if not fig.get("vip_samples"):
        return Verdict(
            "no split brain", want, "no samples of the floating IP: nothing to judge", False
        )
    found = fig.get("split_brain") or []
    if not found:
        return Verdict("no split brain", want, "one holder at a time", True)
    t0, fault_t = fig.get("start_t", 0.0), fig.get("fault_t")
    a, b, vms = max(found, key=lambda f: f[1] - f[0])
    got = f"{', '.join(vms)} held the floating IP together for {b - a:.2f} s from +{a - t0:.2f} s"
    if fault_t is not None:
        got += f" ({a - fault_t:+.2f} s from the fault)"
    if len(found) > 1:
        got += f"; {len(found)} such stretches"
    return Verdict("no split brain", want, got, False)


def _election_target(system: str, fig: dict[str, Any], target: float | None) -> Verdict | None:
    """The goal for the same election, reported beside the asserted bound."""
    if target is None or not fig.get(f"{system}_leader_hit", True):
        return None
    elected = fig[f"{system}_election_s"]
    ok = elected is not None and elected <= target
    return Verdict(
        f"new {system.title()} leader target", f"≤ {target:g} s", _fmt(elected), ok, False
    )


def verdicts(expect: Expect, fig: dict[str, Any], heal_problems: list[str]) -> list[Verdict]:
    """The expectations of one experiment checked against its figures."""
    out: list[Verdict | None] = [effect_verdict(fig), traffic_verdict(expect, fig)]
    if expect.nothing_lost:
        out += history_verdicts(fig)
    if expect.heals:
        got = "whole" if not heal_problems else "; ".join(heal_problems[:3])
        out.append(Verdict("cluster whole again", "whole", got, not heal_problems))
    out.append(split_brain_verdict(fig))
    out.append(cloudip.verdict(fig.get("cloud_ip"), fig.get("start_t", 0.0)))
    out.append(_bound("failed operations", fig["failed"], expect.max_failed, ""))
    out.append(_bound("longest error window", fig["error_window_s"], expect.max_error_window_s))
    out.append(_bound("error windows", fig["error_windows"], expect.max_error_windows, ""))
    if expect.target_error_window_s is not None:
        target, window = expect.target_error_window_s, fig["error_window_s"]
        ok = window is not None and window <= target
        out.append(Verdict("error window target", f"≤ {target:g} s", _fmt(window), ok, False))
    for system in ("consul", "nomad"):
        out.append(_election(system, fig, expect.max_election_s))
        out.append(_election_target(system, fig, expect.target_election_s))
        out.append(
            _bound(
                f"majority without {system.title()} leader",
                fig[f"{system}_leaderless_s"],
                expect.max_leaderless_s,
            )
        )
    out.append(
        _bound(
            "upload accepted and resized", fig["resize_recovery_s"], expect.max_resize_recovery_s
        )
    )
    out.append(
        _bound("longest gap between successes", fig["success_gap_s"], expect.max_success_gap_s)
    )
    if expect.max_routed_latency_s is not None:
        out.append(routed_verdict(expect, fig))
    if expect.only_503:
        other, failed = fig["failed_not_503"], fig["failed"]
        got = f"{other} of {failed} not clear" if failed else "no failure: nothing to judge"
        out.append(Verdict("failures are clear 503s", "0 other", got, bool(failed) and not other))
    out.append(
        _bound(
            "last failure after rollback",
            fig["last_failure_after_rollback_s"],
            expect.recovery_s,
        )
    )
    return [v for v in out if v is not None]


def as_dict(verdict: Verdict) -> dict[str, Any]:
    return asdict(verdict)
