"""The experiment catalogue is complete, consistent and within the CI budget."""

from __future__ import annotations

import pytest
from chaos_fakes import T0, vip_failover_history

from chaos import faults
from chaos.experiments import CATALOGUE, by_name
from chaos.selectors import SELECTORS, SelectionError
from chaos.target import VM, Target

TARGET = Target(
    "http://10.0.0.250/",
    "10.0.0.250",
    tuple(VM(f"vm{i}", f"10.0.0.1{i}", f"lab-vm{i}") for i in (1, 2, 3)),
    ("10.0.0.3", 9000),
    ("10.0.0.3", 5672),
    lab="lab",
)


@pytest.mark.parametrize("experiment", CATALOGUE, ids=lambda e: e.name)
def test_every_experiment_names_a_known_fault_and_selector(experiment):
    assert experiment.fault in faults.FAULTS
    assert experiment.select in SELECTORS
    assert experiment.fault_s <= 20 and experiment.steady_s <= 10


@pytest.mark.parametrize(
    "fault",
    ["kill-vm", "freeze-vm", "partition-vm", "stop-agent", "kill-app", "broker-down", "s3-down"],
)
def test_the_issue_s_faults_are_all_in_the_catalogue(fault):
    assert any(e.fault == fault for e in CATALOGUE)


@pytest.mark.parametrize("agent", ["consul", "nomad", "haproxy", "docker"])
def test_every_agent_is_stopped_once(agent):
    assert by_name(f"stop-{agent}").params == {"agent": agent}


def test_an_unknown_experiment_is_named():
    with pytest.raises(KeyError, match="no experiment 'nope'"):
        by_name("nope")


@pytest.mark.parametrize(
    ("selector", "chosen"),
    [
        ("vip-holder", ["vm1"]),
        ("not-vip-holder", ["vm2"]),
        ("vip-holder-and-one", ["vm1", "vm2"]),
        ("consul-leader", ["vm1"]),
        ("all", ["vm1", "vm2", "vm3"]),
    ],
)
def test_selectors_read_the_cluster_view_before_the_fault(selector, chosen):
    samples = vip_failover_history().samples
    assert SELECTORS[selector](TARGET, samples, T0 + 9) == chosen


def test_no_vip_holder_means_no_selection():
    with pytest.raises(SelectionError, match="no single VM holds the floating IP"):
        SELECTORS["vip-holder"](TARGET, [], T0)


def test_the_chaos_chain_is_made_once_and_removed_whole():
    made = faults._chain_script(["-d 10.0.0.3 -j DROP"])
    assert made.count("iptables -I") == 3 and "iptables -A IMGCLOUD-CHAOS -d 10.0.0.3" in made
    removed = faults._unchain_script()
    assert "iptables -X IMGCLOUD-CHAOS" in removed and removed.endswith("true")


def test_an_unknown_agent_is_refused():
    ctx = faults.Context(TARGET, None, None, [], {"agent": "sshd"})  # type: ignore[arg-type]
    with pytest.raises(faults.FaultError, match="unknown agent 'sshd'"):
        faults.FAULTS["stop-agent"].inject(ctx)
