"""The cloud's route of the floating IP judged against its holder, each way it can go
wrong planted: a hook that never fires, one that routes to the wrong VM, one that lags,
an API that does not answer, a run with nothing to judge. A lab without the API gets
no such verdict at all."""

from __future__ import annotations

from typing import Any

from chaos_fakes import T0, VMS, vip_failover_history

from chaos import checkers, cloudip
from chaos.experiments import Expect
from chaos.journal import Event, History, Sample


def _holders(history: History, move_at: float) -> None:
    """vm1 holds the VIP until `move_at`, vm2 from then on, samples every 0.25 s."""
    samples = []
    for i in range(int(35 / 0.25)):
        t = i * 0.25
        samples += [
            Sample(T0 + t, "vm1", "vm1", "vm1", t < move_at),
            Sample(T0 + t + 0.05, "vm2", "vm1", "vm1", t >= move_at),
            Sample(T0 + t + 0.1, "vm3", "vm1", "vm1", False),
        ]
    history.samples = samples


def _run(calls: list[list[Any]] | None, before: str | None = "vm1", **detail: Any) -> History:
    history = vip_failover_history()
    _holders(history, move_at=10.5)
    if calls is not None or detail:
        record = {"url": "http://provider/v1/floating-ips/vip", "before": before}
        record |= {"calls": [[T0 + t, h] for t, h in calls or []], **detail}
        history.events.append(Event(T0 + 40, cloudip.EVENT, record))
    return history


def _cloud_verdict(history: History):
    fig = checkers.figures(history, VMS)
    found = [v for v in checkers.verdicts(Expect(), fig, []) if v.check.startswith("cloud")]
    return found[0] if found else None


def test_a_hook_called_as_the_address_moves_passes():
    verdict = _cloud_verdict(_run([[10.6, "vm2"]]))
    assert verdict.ok, verdict.got
    assert verdict.got.startswith("0.00 s longest behind, 1 calls")


def test_a_hook_that_never_fires_fails():
    verdict = _cloud_verdict(_run([]))
    assert not verdict.ok
    assert "vm2 held it, the cloud routed to vm1" in verdict.got


def test_a_hook_that_routes_to_the_wrong_vm_fails():
    verdict = _cloud_verdict(_run([[10.6, "vm3"]]))
    assert not verdict.ok
    assert "the cloud routed to vm3" in verdict.got


def test_a_hook_lagging_beyond_the_allowance_fails_and_within_it_passes():
    late = _cloud_verdict(_run([[10.5 + cloudip.CLOUD_LAG_S + 0.5, "vm2"]]))
    assert not late.ok, late.got
    soon = _cloud_verdict(_run([[10.5 + cloudip.CLOUD_LAG_S - 0.5, "vm2"]]))
    assert soon.ok, soon.got


def test_a_route_wrong_before_the_run_fails_even_without_a_move():
    history = _run([], before="vm3")
    _holders(history, move_at=99)  # vm1 holds it throughout
    verdict = _cloud_verdict(history)
    assert not verdict.ok and "vm1 held it, the cloud routed to vm3" in verdict.got


def test_an_api_that_did_not_answer_fails():
    verdict = _cloud_verdict(_run(None, error="ConnectionRefusedError: refused"))
    assert not verdict.ok and "did not answer" in verdict.got


def test_no_moment_with_one_holder_is_nothing_to_judge():
    history = _run([[10.6, "vm2"]])
    history.samples = [s for s in history.samples if not s.vip]
    verdict = _cloud_verdict(history)
    assert not verdict.ok and "nothing to judge" in verdict.got


def test_a_run_without_the_api_has_no_cloud_verdict():
    assert _cloud_verdict(_run(None)) is None
