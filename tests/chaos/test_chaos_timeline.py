"""The cluster view rebuilt from samples: agreement, splits, silence, moves."""

from __future__ import annotations

import pytest
from chaos_fakes import T0, vip_failover_history

from chaos import timeline
from chaos.journal import Sample


@pytest.mark.parametrize(
    ("at", "answered", "consul", "vip"),
    [
        (5.0, {"vm1", "vm2", "vm3"}, "vm1", ("vm1",)),
        (10.9, {"vm2", "vm3"}, "vm1", ()),  # vm1 silent, the others still name it
        (11.6, {"vm2", "vm3"}, "", ("vm2",)),  # nobody leads, vm2 took the VIP
        (20.0, {"vm2", "vm3"}, "vm2", ("vm2",)),
        (30.0, {"vm1", "vm2", "vm3"}, "vm2", ("vm2",)),
    ],
)
def test_view_at_reads_the_latest_recent_sample_of_each_vm(at, answered, consul, vip):
    history = vip_failover_history()
    view = timeline.view_at(history.samples, T0 + at)
    assert (set(view.answered), view.consul, view.vip) == (answered, consul, vip)


def test_disagreeing_vms_make_a_split_and_two_vip_holders_show_both():
    samples = [Sample(T0, "vm1", "vm1", "vm1", True), Sample(T0, "vm2", "vm2", "vm1", True)]
    view = timeline.view_at(samples, T0 + 0.1)
    assert (view.consul, view.nomad, view.vip) == ("split", "vm1", ("vm1", "vm2"))


def test_majority_and_vip_holder_before_a_moment():
    history = vip_failover_history()
    assert timeline.majority(history.samples, T0 + 10, "consul_leader") == "vm1"
    assert timeline.vip_holder(history.samples, T0 + 10) == "vm1"
    assert timeline.vip_holder(history.samples, T0 + 12.5) == "vm2"


def test_no_election_is_timed_when_the_leader_was_not_hit():
    history = vip_failover_history()
    assert (
        timeline.time_to_leader(history.samples, "consul_leader", T0 + 2, {"vm1", "vm3"}, "vm1")
        is None
    )


def test_leader_changes_count_moves_between_vms_not_gaps():
    history = vip_failover_history()
    assert timeline.leader_changes(history.samples, "consul_leader", T0, T0 + 35) == 1
    assert timeline.leader_changes(history.samples, "nomad_leader", T0, T0 + 5) == 0


def test_changes_keeps_only_the_points_where_the_value_changes():
    series = [(0.0, "a"), (1.0, "a"), (2.0, "b"), (3.0, "b"), (4.0, "a")]
    assert timeline.changes(series) == [(0.0, "a"), (2.0, "b"), (4.0, "a")]


def test_an_election_ends_when_every_survivor_names_the_new_leader():
    # vm1 led and died; vm2 names vm3 after 1 s, vm3 itself only after 2.5 s: a client
    # asking vm3 had no leader for 2.5 s, so that is the election's time.
    samples = [
        Sample(T0 + 0.5, "vm2", "", "", False),
        Sample(T0 + 1.0, "vm2", "vm3", "vm3", False),
        Sample(T0 + 1.5, "vm3", "", "", True),
        Sample(T0 + 2.5, "vm3", "vm3", "", True),
    ]
    survivors = {"vm2", "vm3"}
    assert timeline.time_to_leader(samples, "consul_leader", T0, survivors, "vm1") == 1.0
    assert timeline.time_all_name_leader(samples, "consul_leader", T0, survivors, "vm1") == 2.5
    # vm3 never names a Nomad leader: no election time at all, which fails a bound
    assert timeline.time_all_name_leader(samples, "nomad_leader", T0, survivors, "vm1") is None
    assert timeline.time_all_name_leader(samples, "consul_leader", T0, survivors, "vm2") is None
