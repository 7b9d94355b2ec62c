"""The checkers on hand-made histories: every figure the report shows, every verdict."""

from __future__ import annotations

import pytest
from chaos_fakes import T0, VMS, op, vip_failover_history

from chaos import checkers
from chaos.experiments import Expect
from chaos.journal import Event, History, Sample


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        ([True, True, True], []),
        ([True, False, False, True], [(1.0, 2.5, 2)]),
        ([False, True, False], [(0.0, 0.5, 1), (2.0, 2.5, 1)]),
        ([True, False], [(1.0, 1.5, 1)]),
    ],
)
def test_error_windows_group_failures_between_successes(outcomes, expected):
    ops = [op("read", float(i), latency=0.5, ok=ok) for i, ok in enumerate(outcomes)]
    windows = [(a - T0, b - T0, n) for a, b, n in checkers.error_windows(ops)]
    assert windows == expected


def test_a_slow_failure_widens_its_window_to_its_end():
    ops = [op("upload", 0.0, latency=5.0, ok=False), op("read", 1.0, ok=False), op("read", 6.0)]
    assert [(a - T0, b - T0) for a, b, _ in checkers.error_windows(ops)] == [(0.0, 5.0)]


@pytest.mark.parametrize(
    ("ends", "expected"),
    [([1.0, 2.0, 3.0], 1.0), ([], 4.0), ([0.5, 3.5], 3.0)],
)
def test_longest_success_gap_counts_from_both_edges(ends, expected):
    ops = [op("read", e - 0.05) for e in ends]
    assert checkers.longest_success_gap(ops, T0, T0 + 4.0) == pytest.approx(expected)


def test_resize_recovery_is_from_the_fault_to_the_first_new_upload_seen_done():
    history = History(
        ops=[
            op("upload", 0, image="old"),
            op("status", 1, image="old", detail="done"),
            op("upload", 14, image="new"),
            op("status", 15, image="new", detail="pending"),
            op("status", 16, image="new", detail="done"),
        ]
    )
    assert checkers.resize_recovery(history, T0 + 10) == pytest.approx(6.05)
    assert checkers.resize_recovery(history, T0 + 20) is None


def test_figures_of_a_vip_failover():
    fig = checkers.figures(vip_failover_history(), VMS)
    assert fig["vms_hit"] == ["vm1"]
    assert fig["failed"] == 3
    assert fig["error_windows"] == 1
    assert fig["error_window_s"] == pytest.approx(0.45)
    assert fig["lost"] == []
    assert fig["acked"] == 29  # the upload at 10.0 s failed
    assert fig["leader_before"] == "vm1"
    assert fig["vip_before"] == "vm1"
    assert fig["vip_move_s"] == pytest.approx(1.5)
    assert fig["consul_election_s"] == pytest.approx(2.0)
    assert fig["nomad_election_s"] == pytest.approx(2.0)
    assert fig["consul_leaderless_s"] == pytest.approx(2.0)
    assert fig["heal_s"] == pytest.approx(8.0)
    assert fig["resize_recovery_s"] == pytest.approx(3.15)  # img55, sent at 11 s, done at 13.15 s
    assert fig["failed_after_rollback"] == 0


@pytest.mark.parametrize(
    ("expect", "failing"),
    [
        (Expect(), []),
        (Expect(max_failed=0), ["failed operations"]),
        (Expect(max_error_window_s=2.0, max_error_windows=1), []),
        (Expect(max_error_window_s=0.2), ["longest error window"]),
        (Expect(max_election_s=3.0), []),
        (Expect(max_election_s=1.0), ["new Consul leader", "new Nomad leader"]),
        (Expect(only_503=True), ["failures are clear 503s"]),
        (Expect(max_resize_recovery_s=10.0), []),
        (Expect(max_resize_recovery_s=2.0), ["upload accepted and resized"]),
        (Expect(recovery_s=5.0), []),
    ],
)
def test_verdicts_fail_exactly_the_broken_expectations(expect, failing):
    fig = checkers.figures(vip_failover_history(), VMS)
    verdicts = checkers.verdicts(expect, fig, heal_problems=[])
    assert [v.check for v in verdicts if v.asserted and not v.ok] == failing


def test_an_unhealed_cluster_and_a_lost_upload_fail_the_default_expectations():
    history = vip_failover_history()
    history.events = [
        e for e in history.events if not (e.name == "readback" and e.detail["image"] == "img0")
    ]
    fig = checkers.figures(history, VMS)
    verdicts = checkers.verdicts(Expect(), fig, heal_problems=["vm1: does not answer"])
    failing = {v.check: v.got for v in verdicts if not v.ok}
    assert failing == {
        "nothing acknowledged lost": "1 of 29: img0: never read back",
        "cluster whole again": "vm1: does not answer",
    }


def test_the_error_window_target_is_reported_not_asserted():
    history = vip_failover_history()
    fig = checkers.figures(history, VMS)
    fig["error_window_s"] = 3.0
    verdicts = checkers.verdicts(Expect(target_error_window_s=2.0), fig, heal_problems=[])
    target = next(v for v in verdicts if v.check == "error window target")
    assert (target.ok, target.asserted) == (False, False)


@pytest.mark.parametrize(
    ("injected", "victim_silent", "origin"),
    [
        (12.0, True, 9.75),  # docker kill returned late: vm1's last sample is the origin
        (10.1, True, 10.1),  # no sample of vm1 after the fault began: the command's return
        (10.5, False, 10.5),  # vm1 kept answering (an agent stopped): the command's return
    ],
)
def test_the_fault_takes_hold_at_the_victim_s_last_sign_of_life(injected, victim_silent, origin):
    history = vip_failover_history()
    history.events = [e for e in history.events if e.name != "injected"]
    history.events.append(Event(T0 + injected, "injected"))
    fault_t = T0 + (9.0 if injected == 12.0 else 10.0)
    if not victim_silent:
        history.samples.append(Sample(T0 + injected + 0.5, "vm1", "vm1", "vm1", True))
    assert checkers.fault_in_place(history, fault_t, {"vm1"}) == pytest.approx(T0 + origin)


def test_the_election_target_is_reported_not_asserted():
    fig = checkers.figures(vip_failover_history(), VMS)
    fig["consul_election_s"] = 3.1
    expect = Expect(max_election_s=5.0, target_election_s=3.0)
    verdicts = {v.check: v for v in checkers.verdicts(expect, fig, heal_problems=[])}
    bound, target = verdicts["new Consul leader"], verdicts["new Consul leader target"]
    assert (bound.ok, bound.asserted) == (True, True)
    assert (target.ok, target.asserted, target.got) == (False, False, "3.10 s")
    assert verdicts["new Nomad leader target"].ok  # 2.0 s


def test_an_election_is_asserted_only_where_the_fault_hit_that_leader():
    """Killing the Consul leader's VM while Nomad's leader sits elsewhere elects no
    new Nomad leader: that is not a failure."""
    fig = checkers.figures(vip_failover_history(), VMS)
    fig["nomad_leader_hit"], fig["nomad_election_s"] = False, None
    verdicts = {v.check: v for v in checkers.verdicts(Expect(max_election_s=3.0), fig, [])}
    assert verdicts["new Nomad leader"].ok
    assert verdicts["new Nomad leader"].got == "none needed: its leader was not hit"
    assert verdicts["new Consul leader"].ok


def test_a_hit_leader_never_replaced_fails():
    fig = checkers.figures(vip_failover_history(), VMS)
    assert fig["consul_leader_hit"] and fig["nomad_leader_hit"]
    fig["nomad_election_s"] = None  # nobody was elected
    verdicts = {v.check: v for v in checkers.verdicts(Expect(max_election_s=3.0), fig, [])}
    assert not verdicts["new Nomad leader"].ok


def test_a_server_never_marked_down_shows_in_the_latency_once_it_should_be():
    # A frozen VM: what HAProxy sent it in the first seconds waits out its server timeout
    # (8 s); from 4 s on a HAProxy that checks its servers sends nothing there. One that
    # never marks it down keeps sending every third request into the stall.
    hit, rollback = T0 + 100.0, T0 + 112.0
    checked = [op("read", 100 + t / 2, 8.0 if t < 6 else 0.1) for t in range(24)]
    unchecked = [op("read", 100 + t / 2, 8.0 if t % 3 == 0 else 0.1) for t in range(24)]
    expect = Expect(routed_after_s=4, max_routed_latency_s=2.0)
    good = checkers.routed_verdict(expect, checkers.latency_by_second(checked, hit, rollback))
    bad = checkers.routed_verdict(expect, checkers.latency_by_second(unchecked, hit, rollback))
    assert good.ok and good.got == "slowest 0.10 s of 16"
    assert not bad.ok and bad.got == "slowest 8.00 s of 16"
    none = checkers.routed_verdict(expect, checkers.latency_by_second([], hit, rollback))
    assert not none.ok and "nothing to judge" in none.got
