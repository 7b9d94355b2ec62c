"""The cloud's side of the floating IP: on clouds that ignore gratuitous ARP users
reach whichever VM the cloud routes the address to, so that VM must be the one
holding it. keepalived's hook asks the cloud on every move (roles/keepalived,
`keepalived_vip_hook`); in the lab the provider's floating-IP API plays the cloud
(lab/floating_ip.py) and keeps every call.

After a run the suite reads the API once (`record`) and journals every call made
during the run and whom the address was routed to before it. The checker then
walks the run in the observers' steps: wherever exactly one VM holds the address,
the cloud must route it to that VM within CLOUD_LAG_S of it taking the address.
A hook that never fires, fires on the wrong VM (a fenced one), or lags, fails.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from chaos import timeline
from chaos.journal import History, Journal
from chaos.verdict import Verdict

EVENT = "cloud-ip"
# How far the cloud's route may trail the holder: keepalived runs the hook as it
# becomes MASTER and the call takes a few milliseconds; the observers' samples are
# 0.25 s apart and one may stand for up to timeline.STALE_S.
CLOUD_LAG_S = 2.0
STEP_S = 0.25


def fetch(url: str, timeout_s: float = 5.0) -> dict[str, Any]:
    """The API's record of the floating IP (holder, history of calls)."""
    with urllib.request.urlopen(url, timeout=timeout_s) as answer:
        return dict(json.loads(answer.read()))


def record(journal: Journal, url: str, start_t: float) -> None:
    """Journal the calls made since `start_t` and whom the address went to before."""
    try:
        state = fetch(url)
    except (OSError, urllib.error.URLError, ValueError) as exc:
        journal.event(time.time(), EVENT, url=url, error=f"{type(exc).__name__}: {exc}")
        return
    history = [c for c in state.get("history", []) if isinstance(c, dict)]
    before = [c["holder"] for c in history if c["t"] < start_t]
    calls = [[c["t"], c["holder"]] for c in history if c["t"] >= start_t]
    journal.event(
        time.time(),
        EVENT,
        url=url,
        before=before[-1] if before else None,
        calls=calls,
        holder=state.get("holder"),
    )


def _routed_at(before: str | None, calls: list[list[Any]], t: float) -> str | None:
    routed = before
    for at, holder in calls:
        if at > t:
            break
        routed = holder
    return routed


def figures(history: History, t0: float, t1: float) -> dict[str, Any] | None:
    """None when the run had no cloud API to read; else what it did and how it trailed."""
    event = history.event(EVENT)
    if event is None:
        return None
    detail = event.detail
    if detail.get("error"):
        return {"error": detail["error"]}
    calls = sorted(detail.get("calls") or [], key=lambda c: c[0])
    before = detail.get("before")
    judged = 0
    longest, since = 0.0, None  # the longest stretch routed elsewhere than the holder
    worst: tuple[float, str, str | None] | None = None
    for view in timeline.views(history.samples, t0, t1, STEP_S):
        if len(view.vip) != 1:
            since = None  # no one holder (a move, or split brain: judged apart)
            continue
        judged += 1
        holder, routed = view.vip[0], _routed_at(before, calls, view.t)
        if routed == holder:
            since = None
            continue
        since = view.t if since is None else since
        if view.t - since + STEP_S > longest:
            longest = view.t - since + STEP_S
            worst = (since, holder, routed)
    return {
        "calls": len(calls),
        "judged": judged,
        "lag_s": longest,
        "worst": list(worst) if worst else None,
        "routed_at_end": detail.get("holder"),
    }


def verdict(fig: dict[str, Any] | None, start_t: float) -> Verdict | None:
    if fig is None:
        return None
    check, want = "cloud routes the floating IP to its holder", f"≤ {CLOUD_LAG_S:g} s behind"
    if fig.get("error"):
        return Verdict(check, want, f"the cloud's API did not answer: {fig['error']}", False)
    if not fig["judged"]:
        return Verdict(check, want, "no moment with one holder: nothing to judge", False)
    got = f"{fig['lag_s']:.2f} s longest behind, {fig['calls']} calls"
    if fig["worst"]:
        since, holder, routed = fig["worst"]
        got += f"; from +{since - start_t:.2f} s {holder} held it, the cloud routed to {routed}"
    return Verdict(check, want, got, fig["lag_s"] <= CLOUD_LAG_S)
