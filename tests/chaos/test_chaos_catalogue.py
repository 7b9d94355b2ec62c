"""The experiment catalogue is complete, consistent and within the CI budget."""

from __future__ import annotations

import pytest
from chaos_fakes import T0, vip_failover_history

from chaos import faults
from chaos.experiments import CATALOGUE, by_name
from chaos.selectors import SELECTORS, SelectionError
from chaos.target import VM, Target

AGENTS = ("consul", "nomad", "haproxy", "docker")
TARGET = Target(
    "https://10.0.0.250/",
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
def test_every_agent_is_stopped_on_the_holder_and_elsewhere(agent):
    assert by_name(f"stop-{agent}").params == {"agent": agent}
    assert by_name(f"stop-{agent}-non-holder").params == {"agent": agent}


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


@pytest.mark.parametrize("experiment", CATALOGUE, ids=lambda e: e.name)
def test_every_experiment_states_its_hypothesis_and_judges_enough_traffic(experiment):
    assert len(experiment.hypothesis) > 40 and experiment.hypothesis.endswith(".")
    expect = experiment.expect
    assert expect.min_acked > 0 and expect.min_window_reads > 0 and expect.recovery_s > 0


@pytest.mark.parametrize(
    "name",
    ["kill-vm", "kill-backend-non-holder", *(f"stop-{a}-non-holder" for a in AGENTS)],
)
def test_losing_a_non_holder_part_fails_no_request(name):
    experiment = by_name(name)
    assert experiment.select == "not-vip-holder" and experiment.expect.max_failed == 0


@pytest.mark.parametrize("name", ["kill-vip-holder", "partition-vip-holder"])
def test_losing_the_holder_fails_at_most_one_request_in_one_short_window(name):
    experiment = by_name(name)
    assert experiment.select == "vip-holder"
    assert (experiment.expect.max_failed, experiment.expect.max_error_window_s) == (1, 1.0)


@pytest.mark.parametrize("agent", AGENTS)
def test_agent_stops_on_the_holder_stay_measured_against_their_goal(agent):
    expect = by_name(f"stop-{agent}").expect
    assert by_name(f"stop-{agent}").select == "vip-holder"
    assert (expect.target_error_window_s, expect.max_failed) == (5.0, None)


def _stub(bin_dir, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)


@pytest.mark.parametrize(("in_progress", "code"), [("2", 0), ("0", 3)])
def test_a_busy_kill_waits_for_a_job_in_progress(tmp_path, monkeypatch, in_progress, code):
    # `docker port` and the worker's /metrics, played by stubs on PATH: the wait ends
    # once the metrics show a job in hand, and fails (nothing to judge) if none comes.
    import subprocess

    monkeypatch.setattr(faults, "BUSY_WAIT_S", 2)
    _stub(tmp_path, "docker", 'echo "10.0.0.12:25123"')
    _stub(tmp_path, "curl", f'echo "imgcloud_jobs_in_progress {in_progress}.0"')
    script = faults._busy_wait_script("abc123")
    assert "http://$(docker port abc123 8080/tcp" in script
    done = subprocess.run(
        ["sh", "-c", script],
        env={"PATH": f"{tmp_path}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert done.returncode == code, done.stderr
    if code:
        assert "no job in progress in 2 s" in done.stderr


def test_the_busy_worker_kill_is_in_the_catalogue():
    experiment = by_name("kill-worker-busy")
    assert experiment.fault == "kill-app-mid-job"
    assert experiment.params["task"] == "worker" and experiment.params["busy"] is True
    assert experiment.params["proxy"] == "s3" and experiment.params["type"] == "latency"
    assert experiment.expect.nothing_lost and experiment.expect.max_failed == 0
