"""Checkers over one experiment's history (pure: the journal in, figures and verdicts out).

Figures are what a person asks after a fault: did we lose anything, how many requests
failed, for how long, how fast did the cluster elect and move the floating IP, how
long until it was whole again. Verdicts compare them with the experiment's `Expect`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from itertools import pairwise
from typing import Any

from chaos import timeline
from chaos.experiments import Expect
from chaos.history import judge as judge_uploads
from chaos.journal import History, Op

CLIENT_KINDS = ("upload", "status", "read")


@dataclass(frozen=True)
class Verdict:
    check: str
    want: str
    got: str
    ok: bool
    asserted: bool = True


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


def figures(history: History, vms: list[str]) -> dict[str, Any]:
    """Every number the report shows for one run."""
    fault = history.event("fault")
    start = history.time_of("start") or (history.ops[0].start if history.ops else 0.0)
    fault_t = fault.t if fault else start
    hit = set(fault.detail.get("vms", [])) if fault else set()
    hit_t = fault_in_place(history, fault_t, hit)
    rollback_t = history.time_of("rollback") or fault_t
    restored_t = history.time_of("restored") or rollback_t  # the rollback has completed
    healthy_t = history.time_of("healthy")
    end_t = history.time_of("end") or max((o.end for o in history.ops), default=fault_t)
    survivors = set(vms) - hit
    ops = client_ops(history)
    failed = [op for op in ops if not op.ok]
    windows = error_windows(ops)
    leaders = {
        f: timeline.majority(history.samples, fault_t, f) for f in ("consul_leader", "nomad_leader")
    }
    old_vip = timeline.vip_holder(history.samples, fault_t)
    after_fault = [op for op in failed if op.end >= fault_t]
    out: dict[str, Any] = {
        "vms_hit": sorted(hit),
        "ops": len(ops),
        "ops_by_kind": dict(Counter(op.kind for op in ops)),
        "failed": len(failed),
        "failed_by_reason": dict(Counter(op.error or "?" for op in failed).most_common(6)),
        "failed_not_503": sum(1 for op in failed if op.status != 503),
        "failed_after_rollback": sum(1 for op in failed if op.start > restored_t),
        "error_windows": len(windows),
        "error_window_s": max((b - a for a, b, _ in windows), default=0.0),
        "max_latency_s": max((op.latency for op in ops), default=0.0),
        "success_gap_s": longest_success_gap(ops, fault_t, rollback_t) if ops else None,
        "recovery_s": max((op.end for op in after_fault), default=fault_t) - fault_t,
        "heal_s": healthy_t - restored_t if healthy_t else None,
        "fault_s": rollback_t - fault_t,
        "duration_s": end_t - start,
        "acked": sum(1 for op in ops if op.kind == "upload" and op.ok),
        **judge_uploads(history).figures(),
        "resize_recovery_s": resize_recovery(history, hit_t),
        "leader_before": leaders["consul_leader"],
        "vip_before": old_vip,
        "vip_move_s": timeline.vip_move_time(history.samples, hit_t, old_vip),
    }
    for system in ("consul", "nomad"):
        field = f"{system}_leader"
        # An unknown leader counts as hit: a new one must then be seen elected.
        out[f"{system}_leader_hit"] = leaders[field] not in survivors
        out[f"{system}_election_s"] = timeline.time_to_leader(
            history.samples, field, hit_t, survivors, leaders[field]
        )
        out[f"{system}_leaderless_s"] = (
            timeline.longest_leaderless(history.samples, field, hit_t, rollback_t, survivors)
            if survivors and rollback_t > hit_t
            else None
        )
    for system in ("consul", "nomad"):
        out[f"{system}_leader_changes"] = timeline.leader_changes(
            history.samples, f"{system}_leader", start, end_t
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
    return Verdict(check, f"≤ {limit:g}{unit}", _fmt(value) if unit else str(value), ok)


def _election(system: str, fig: dict[str, Any], limit: float | None) -> Verdict | None:
    """Time to a new leader, where the fault took the old one; else nothing to elect."""
    check = f"new {system.title()} leader"
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


def verdicts(expect: Expect, fig: dict[str, Any], heal_problems: list[str]) -> list[Verdict]:
    """The expectations of one experiment checked against its figures."""
    out: list[Verdict | None] = []
    if expect.nothing_lost:
        out += history_verdicts(fig)
    if expect.heals:
        got = "whole" if not heal_problems else "; ".join(heal_problems[:3])
        out.append(Verdict("cluster whole again", "whole", got, not heal_problems))
    out.append(_bound("failed operations", fig["failed"], expect.max_failed, ""))
    out.append(_bound("longest error window", fig["error_window_s"], expect.max_error_window_s))
    out.append(_bound("error windows", fig["error_windows"], expect.max_error_windows, ""))
    if expect.target_error_window_s is not None:
        target = expect.target_error_window_s
        out.append(
            Verdict(
                "error window target",
                f"≤ {target:g} s",
                _fmt(fig["error_window_s"]),
                fig["error_window_s"] <= target,
                asserted=False,
            )
        )
    for system in ("consul", "nomad"):
        out.append(_election(system, fig, expect.max_election_s))
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
    if expect.only_503:
        out.append(
            Verdict(
                "failures are clear 503s",
                "0 other",
                f"{fig['failed_not_503']} other",
                fig["failed_not_503"] == 0,
            )
        )
    out.append(
        _bound(
            "last failure after rollback",
            fig["last_failure_after_rollback_s"],
            expect.errors_only_during_fault_s,
        )
    )
    return [v for v in out if v is not None]


def as_dict(verdict: Verdict) -> dict[str, Any]:
    return asdict(verdict)
