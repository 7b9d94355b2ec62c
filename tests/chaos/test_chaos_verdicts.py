"""The verdicts every experiment is judged by, each shown failing on a planted defect:
split brain, failures after the allowed recovery, windows that run to the end of the run,
clear 503s, too little traffic, nothing measured; and the VIP move as users see it."""

from __future__ import annotations

import pytest
from chaos_fakes import T0, VMS, op, vip_failover_history

from chaos import checkers
from chaos.experiments import FENCING_DELAY_S, Expect
from chaos.journal import History, Sample


def _failing(history: History, expect: Expect | None = None) -> dict[str, str]:
    fig = checkers.figures(history, VMS)
    verdicts = checkers.verdicts(expect or Expect(), fig, heal_problems=[])
    return {v.check: v.got for v in verdicts if v.asserted and not v.ok}


def _vip(node: str, t0: float, t1: float, holds, phase: float = 0.0) -> list[Sample]:
    """Samples of `node` every 0.25 s from t0 + phase; `holds(t)` says if it has the VIP."""
    count = int((t1 - t0) / 0.25)
    times = [t0 + phase + i * 0.25 for i in range(count)]
    return [Sample(T0 + t, node, "vm1", "vm1", holds(t)) for t in times]


def _two_vms(vm1_until: float) -> History:
    """vm1 holds the VIP until `vm1_until`, vm2 from 19.85 s; no fault, plenty of traffic."""
    history = vip_failover_history()
    history.events = [e for e in history.events if e.name not in ("fault", "rollback")]
    history.samples = sorted(
        _vip("vm1", 0, 30, lambda t: t <= vm1_until)
        + _vip("vm2", 0, 30, lambda t: t >= 19.85, phase=0.1)
        + _vip("vm3", 0, 30, lambda t: False),
        key=lambda s: s.t,
    )
    return history


def test_a_clean_handover_is_not_split_brain():
    # vm1's last "I hold it" (20.0 s) stands until its next sample (20.25 s): 0.4 s overlap.
    assert "no split brain" not in _failing(_two_vms(vm1_until=20.0), Expect(min_window_reads=0))


def test_two_vip_holders_for_longer_than_two_samples_are_split_brain():
    got = _failing(_two_vms(vm1_until=20.5), Expect(min_window_reads=0))["no split brain"]
    assert got == "vm1, vm2 held the floating IP together for 0.90 s from +19.85 s"


def _cut_off_holder(keeps_it_for: float) -> History:
    """The fault (10 s) cuts off vm1, which keeps the VIP `keeps_it_for` seconds after
    vm2 takes it at 10.5 s."""
    history = vip_failover_history()
    history.samples = sorted(
        _vip("vm1", 0, 35, lambda t: t < 10.5 + keeps_it_for)
        + _vip("vm2", 0, 35, lambda t: t >= 10.5)
        + _vip("vm3", 0, 35, lambda t: False),
        key=lambda s: s.t,
    )
    return history


def test_two_holders_inside_the_fencing_delay_are_not_split_brain():
    history = _cut_off_holder(keeps_it_for=FENCING_DELAY_S - 0.5)  # both until 12.5 s
    assert "no split brain" not in _failing(history)


def test_two_holders_after_the_fencing_delay_are_split_brain():
    got = _failing(_cut_off_holder(keeps_it_for=4.0))["no split brain"]
    together = "vm1, vm2 held the floating IP together for 2.00 s from +12.50 s"
    assert got == together + " (+2.50 s from the fault)"


def test_no_vip_samples_judge_nothing_and_fail():
    history = vip_failover_history()
    history.samples = []
    assert _failing(history)["no split brain"] == "no samples of the floating IP: nothing to judge"


def _failures_after_the_heal(history: History, t0: float, t1: float) -> History:
    """Every client operation that starts in [t0, t1) fails (a 503 from HAProxy)."""
    for o in history.ops:
        if o.kind in checkers.CLIENT_KINDS and T0 + t0 <= o.start < T0 + t1:
            o.ok, o.status, o.error = False, 503, "503 No server is available"
    return history


def test_a_failure_later_than_the_allowed_recovery_fails():
    history = _failures_after_the_heal(vip_failover_history(), 28.0, 28.2)  # rollback: 22 s
    assert _failing(history, Expect(recovery_s=5.0)) == {"last failure after rollback": "6.00 s"}
    assert "last failure after rollback" not in _failing(history, Expect(recovery_s=7.0))


def test_failures_after_the_heal_count_against_the_whole_run():
    history = _failures_after_the_heal(vip_failover_history(), 28.0, 28.2)
    assert _failing(history, Expect(max_failed=3, recovery_s=10))["failed operations"] == "4"


def test_the_success_gap_runs_to_the_end_of_the_run_not_the_rollback():
    """The issue's partition-vm: it "held" with a 7 s outage after the heal."""
    history = _failures_after_the_heal(vip_failover_history(), 23.0, 30.0)
    got = _failing(history, Expect(max_success_gap_s=3.0, recovery_s=10))
    assert got == {"longest gap between successes": "7.00 s"}  # to the last op


def test_the_majority_s_leaderless_time_runs_past_the_rollback():
    history = vip_failover_history()
    for s in history.samples:
        if T0 + 24 <= s.t < T0 + 29:
            s.consul_leader = ""
    got = _failing(history, Expect(max_leaderless_s=3.0))
    assert got == {"majority without Consul leader": "5.25 s"}  # from 23.75 s


@pytest.mark.parametrize(
    ("clear", "failing"), [(True, set()), (False, {"failures are clear 503s"})]
)
def test_only_the_service_s_json_503_is_a_clear_503(clear, failing):
    history = vip_failover_history()
    for o in history.ops:
        if not o.ok and o.kind in checkers.CLIENT_KINDS:
            o.status, o.clear_503 = 503, clear  # HAProxy's HTML 503 is not clear
    assert set(_failing(history, Expect(only_503=True))) == failing


def test_only_503_over_no_failure_judges_nothing_and_fails():
    history = vip_failover_history()
    history.ops = [o for o in history.ops if o.ok]
    got = _failing(history, Expect(only_503=True, min_acked=0, min_window_uploads=0))
    assert got == {"failures are clear 503s": "no failure: nothing to judge"}


def test_too_little_traffic_in_the_fault_window_fails():
    history = vip_failover_history()
    history.ops = [o for o in history.ops if not (T0 + 10 <= o.start <= T0 + 22)]
    got = _failing(history)["enough traffic"]
    assert got == "too little traffic to judge: 17 acknowledged; in the window 0 uploads, 0 reads"


def test_no_operation_at_all_measures_nothing_and_fails():
    history = History(events=vip_failover_history().events)
    got = _failing(history, Expect(max_failed=0, max_error_window_s=1.0))
    assert got["failed operations"] == "—" and got["longest error window"] == "—"
    assert got["nothing acknowledged lost"] == "0 acknowledged uploads: nothing to judge"
    assert got["enough traffic"].startswith("too little traffic to judge")


def test_the_vip_moved_when_another_vm_s_haproxy_answers_through_it():
    history = vip_failover_history()
    for o in history.ops:
        o.edge = "vm1" if o.start < T0 + 11.2 else "vm2"
    fig = checkers.figures(history, VMS)
    assert fig["vip_move_s"] == pytest.approx(1.25)  # the read at 11.2 s answered by vm2
    assert (fig["vip_before"], fig["vip_move_source"]) == ("vm1", "X-Edge")


def test_without_x_edge_the_vip_move_comes_from_the_samples_and_says_so():
    fig = checkers.figures(vip_failover_history(), VMS)
    assert fig["vip_move_s"] == pytest.approx(1.5)
    assert fig["vip_move_source"] == "samples (no X-Edge)"


def test_a_vm_holding_the_vip_but_answering_nothing_has_not_moved_it():
    history = vip_failover_history()
    for o in history.ops:
        o.edge = "vm1" if o.start < T0 + 10 else None
    history.ops.append(op("read", 14.0, edge="vm3"))
    assert checkers.figures(history, VMS)["vip_move_s"] == pytest.approx(4.05)
