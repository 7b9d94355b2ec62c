"""The nemesis without a cluster: its schedule is pure, replayable and never asks more
than the cluster promises; one history of several faults is judged per step and whole."""

from __future__ import annotations

import pytest
from chaos_fakes import T0, VMS, op, settle, upload, vm_samples

from chaos import nemesis
from chaos.experiments import CATALOGUE, by_name
from chaos.journal import Event, History, Sample

SEEDS = range(25)


def test_the_same_seed_gives_the_same_schedule():
    assert nemesis.plan(1234, 10) == nemesis.plan(1234, 10)
    assert nemesis.plan(1234, 10).lines() == nemesis.plan(1234, 10).lines()


def test_other_seeds_give_other_schedules():
    drawn = {tuple(s.experiment for s in nemesis.plan(seed, 10).steps) for seed in SEEDS}
    assert len(drawn) == len(SEEDS)


def test_a_schedule_survives_a_round_trip_through_the_report():
    schedule = nemesis.plan(7, 5, excluded={"full-disk": "no own disk"})
    assert nemesis.Schedule.from_json(schedule.to_json()) == schedule


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("minutes", [3, 60])
def test_no_schedule_asks_more_than_the_cluster_promises(seed, minutes):
    assert nemesis.violations(nemesis.plan(seed, minutes)) == []


def test_only_kill_two_vms_takes_two_vms_down():
    two = [e.name for e in CATALOGUE if nemesis.vms_down(e) > 1]
    assert two == ["kill-two-vms"]


def test_a_planted_unsafe_schedule_is_caught():
    steps = (
        nemesis.Step(0, "kill-vm", 12.0, 5.0, 6.0),
        nemesis.Step(1, "kill-vm", 12.0, 5.0, 10.0),  # a repeat, and before step 1 ended
        nemesis.Step(2, "s3-down", 40.0, 5.0, 90.0),  # longer than its experiment's window
    )
    found = nemesis.violations(nemesis.Schedule(1, 3, steps))
    assert found == [
        "step 2 starts before step 1 ends",
        "step 2 repeats step 1",
        "step 3: a 40.0 s window",
    ]


def test_experiments_the_target_cannot_run_are_never_drawn_and_said_why():
    excluded = {"full-disk": "no own disk", "clock-jump": "shared clock"}
    schedule = nemesis.plan(3, 60, excluded=excluded)
    assert not {s.experiment for s in schedule.steps} & set(excluded)
    assert "  left out: clock-jump: shared clock" in schedule.lines()


def test_the_schedule_fills_its_minutes_and_no_more():
    for minutes in (3, 60):
        schedule = nemesis.plan(11, minutes)
        last = schedule.steps[-1]
        assert last.planned_at_s < minutes * 60
        assert len(schedule.steps) >= (2 if minutes == 3 else 20)


def test_a_one_minute_schedule_still_has_a_step():
    assert len(nemesis.plan(5, 0.5).steps) == 1


# -- one history, two faults --------------------------------------------------------------


def _two_steps() -> History:
    """vm3 killed 10-22 s (step 1, kill-vm), the broker down 35-47 s (step 2):
    uploads inside it refused with the service's 503; whole again at 25 and 49 s."""
    history = History()
    for i in range(300):  # 5 ops/s for 60 s
        t = round(i * 0.2, 3)
        if i % 5 == 0:
            refused = 36 <= t <= 46
            if refused:
                history.ops.append(upload(t, i, ok=False, status=503, clear_503=True))
            else:
                history.ops.append(upload(t, i))
        else:
            history.ops.append(op(("status", "read")[i % 2], t, status=200))
    alive = lambda t: ("vm2", False)  # noqa: E731
    history.samples = sorted(
        vm_samples("vm1", 0, 61, lambda t: ("vm2", True))
        + vm_samples("vm2", 0, 61, alive)
        + vm_samples("vm3", 0, 10, alive)
        + vm_samples("vm3", 24, 61, alive),
        key=lambda s: s.t,
    )
    marks = [
        (0, "start", {}),
        (9.9, "step", {"index": 0, "experiment": "kill-vm"}),
        (10, "fault", {"vms": ["vm3"], "what": "kill vm3", "effect": "silent"}),
        (10, "injected", {}),
        (22, "rollback", {}),
        (22.5, "restored", {}),
        (25, "healthy", {"problems": []}),
        (35, "step", {"index": 1, "experiment": "broker-down"}),
        (35.1, "fault", {"vms": [], "what": "stop RabbitMQ", "effect": "clear-503"}),
        (35.2, "injected", {}),
        (47, "rollback", {}),
        (47.5, "restored", {}),
        (49, "healthy", {"problems": []}),
        (60, "traffic-end", {}),
        (61, "end", {}),
    ]
    history.events = [Event(T0 + t, name, dict(detail)) for t, name, detail in marks]
    return settle(history)


def _failed(history: History) -> list[str]:
    _, verdicts = nemesis.judge(history, VMS)
    return [f"{v.check}: {v.got}" for v in verdicts if v.asserted and not v.ok]


def test_a_clean_two_fault_history_holds_every_rule():
    figures, verdicts = nemesis.judge(_two_steps(), VMS)
    assert _failed(_two_steps()) == []
    assert [s["experiment"] for s in figures["steps"]] == ["kill-vm", "broker-down"]
    assert figures["effect"]["got"] == "2 of 2 faults took effect"
    checks = {v.check for v in verdicts}
    assert {"step 1 kill-vm: fault took effect", "step 2 broker-down: failures are clear 503s"} <= (
        checks
    )
    assert "nothing acknowledged lost" in checks and "no split brain" in checks


def test_a_step_whose_fault_did_nothing_fails_by_name():
    history = _two_steps()
    for o in history.ops:
        o.clear_503 = o.clear_503 and False
    found = _failed(history)
    assert any(
        f.startswith("step 2 broker-down: fault took effect: fault had no effect") for f in found
    )
    assert not any(f.startswith("step 1 ") for f in found)


def test_a_failure_long_after_a_heal_fails_that_step():
    history = _two_steps()
    history.ops.append(op("read", 31.0, ok=False, error="ConnectError"))
    found = _failed(history)
    assert any(f.startswith("step 1 kill-vm: last failure after rollback") for f in found)
    assert any(f.startswith("step 1 kill-vm: failed operations") for f in found)


def test_a_steps_failed_operations_are_kept_and_logged_from_its_fault(tmp_path):
    """A CI run's report does not outlive it: the lane's log says which failed, and how."""
    history = _two_steps()
    history.ops.append(op("read", 31.0, ok=False, error="ConnectError"))
    lines: list[str] = []
    journal = tmp_path / "journals" / "nemesis.jsonl"
    result = nemesis.judge_result(history, VMS, nemesis.plan(9, 3), journal, lines.append)
    kept = result.figures["steps"][0]["failed_ops"]
    assert [(o["kind"], o["error"], o["at_s"]) for o in kept] == [("read", "ConnectError", 21.0)]
    assert result.figures["steps"][0]["failed_by_reason"] == {"ConnectError": 1}
    assert any(line.startswith("  step 1 failed: read at +21.00 s") for line in lines), lines
    assert "upload" in {o["kind"] for o in result.figures["steps"][1]["failed_ops"]}


def test_two_vip_holders_between_faults_are_split_brain_of_the_whole_run():
    history = _two_steps()
    history.samples += [Sample(T0 + 30 + i * 0.25, "vm2", "vm2", "vm2", True) for i in range(8)]
    history.samples.sort(key=lambda s: s.t)
    found = _failed(history)
    assert any(
        f.startswith("no split brain: vm1, vm2 held the floating IP together") for f in found
    )


def test_two_vip_holders_inside_a_fencing_delay_are_forgiven():
    history = _two_steps()
    history.samples += [Sample(T0 + 35.3 + i * 0.25, "vm2", "vm2", "vm2", True) for i in range(8)]
    history.samples.sort(key=lambda s: s.t)
    assert not any(f.startswith("no split brain") for f in _failed(history))


def test_a_lost_upload_fails_the_whole_run():
    history = _two_steps()
    lost = next(e for e in history.events if e.name == "readback")
    lost.detail["status"] = "pending"
    found = _failed(history)
    assert any(f.startswith("nothing acknowledged lost: 1 of") for f in found)


def test_a_step_that_broke_fails_with_its_error():
    history = _two_steps()
    history.events.append(Event(T0 + 23, "step-error", {"index": 0, "error": "FaultError: x"}))
    found = _failed(nemesis._attach_errors(history))
    assert "step 1 kill-vm: experiment ran: FaultError: x" in found


def test_the_nemesis_result_is_one_report_section_with_its_plot(tmp_path):
    from chaos import report

    schedule = nemesis.plan(9, 3)
    journal = tmp_path / "journals" / "nemesis.jsonl"
    result = nemesis.judge_result(_two_steps(), VMS, schedule, journal, lambda _line: None)
    assert result.passed, [v for v in result.verdicts if not v.ok]
    assert (tmp_path / "nemesis.png").is_file()
    page = report.write_report([result.to_json()], tmp_path).read_text()
    assert page.count("<section id='nemesis'>") == 1
    assert result.figures["schedule"]["seed"] == 9


def test_every_experiment_drawn_exists():
    for step in nemesis.plan(21, 60).steps:
        assert by_name(step.experiment)
