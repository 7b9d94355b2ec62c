"""Did the fault take effect? Each rule on a history with and without its evidence, and
the watches that gather the evidence, against scripted VM answers (no cluster)."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field

import pytest
from chaos_fakes import T0, VMS, upload, vip_failover_history

from chaos import checkers, effects, evidence
from chaos.experiments import Expect
from chaos.faults import FAULTS, Context
from chaos.journal import Event, History, Journal, Sample
from chaos.target import VM, Target

TARGET = Target(
    "https://10.0.0.250/",
    "10.0.0.250",
    tuple(VM(f"vm{i}", f"10.0.0.1{i}", f"lab-vm{i}") for i in (1, 2, 3)),
    None,
    None,
    lab="lab",
)


def _with_fault(effect: str, vms: list[str], backend: str = "lab") -> History:
    history = vip_failover_history()
    fault = history.event("fault")
    assert fault is not None
    fault.detail.update(effect=effect, vms=vms, backend=backend)
    return history


def _sampled_throughout(history: History, vm: str = "vm1") -> History:
    """The 'killed' VM never stops answering: a kill that did nothing."""
    history.samples = [s for s in history.samples if s.node != vm]
    history.samples += [Sample(T0 + i * 0.25, vm, "vm1", "vm1", True) for i in range(140)]
    history.samples.sort(key=lambda s: s.t)
    return history


def _effect(t: float, rule: str, seen: bool = True, **detail: object) -> Event:
    return Event(T0 + t, "effect", {"rule": rule, "seen": seen, **detail})


def test_every_fault_names_a_rule_with_a_want():
    assert {fault.effect for fault in FAULTS.values()} <= set(effects.WANT)


def test_a_killed_vm_that_went_silent_took_effect():
    took = effects.judge(vip_failover_history(), "silent")
    assert took == effects.Effect(True, "silent: vm1 12.0 s")


def test_a_kill_with_no_effect_fails_first():
    history = _sampled_throughout(vip_failover_history())
    took = effects.judge(history, "silent")
    assert not took.ok
    assert took.got == (
        "fault had no effect: vm1 (longest silence 0.25 s) kept answering the observer"
    )
    fig = checkers.figures(history, VMS, "silent")
    first = checkers.verdicts(Expect(), fig, [])[0]
    assert (first.check, first.ok, first.asserted) == ("fault took effect", False, True)
    assert first.got.startswith("fault had no effect: ")


def test_on_real_vms_a_black_holed_vm_still_sampled_counts_when_the_majority_sees_it_failed():
    history = _sampled_throughout(_with_fault("silent", ["vm1"], backend="ssh"))
    assert not effects.judge(history, None).ok
    history.events.append(_effect(14, "members-failed", vm="vm2", failed=["vm1"]))
    assert effects.judge(history, None) == effects.Effect(True, "vm1 seen failed by vm2 4.0 s in")


@pytest.mark.parametrize(
    ("event", "ok"),
    [
        (_effect(15, "members-failed", vm="vm2", failed=["vm1"]), True),
        (_effect(15, "members-failed", vm="vm2", failed=["vm3"]), False),  # another VM
        (_effect(21.5, "members-failed", seen=False, vm="vm2", failed=[]), False),
        (_effect(30, "members-failed", vm="vm2", failed=["vm1"]), False),  # after the heal
        (None, False),
    ],
)
def test_a_cut_off_vm_must_be_seen_failed_by_the_majority_inside_the_window(event, ok):
    history = _with_fault("members-failed", ["vm1"])
    history.events += [event] if event else []
    took = effects.judge(history, None)
    assert took.ok == ok and (ok or took.got.startswith("fault had no effect: vm1 never seen"))


@pytest.mark.parametrize(
    ("events", "ok"),
    [
        ([_effect(11, "unit-inactive", units={"vm1": {"consul": "inactive"}})], True),
        ([_effect(22, "unit-inactive", seen=False, units={"vm1": {"consul": "active"}})], False),
    ],
)
def test_a_stopped_agent_s_unit_must_be_seen_inactive(events, ok):
    history = _with_fault("unit-inactive", ["vm1"])
    history.events += events
    took = effects.judge(history, None)
    assert took.ok == ok
    assert ok or took.got == "fault had no effect: the units stayed active on vm1"


@pytest.mark.parametrize(("seen", "ok"), [(True, True), (False, False)])
def test_a_killed_container_must_be_replaced(seen, ok):
    history = _with_fault("container-replaced", ["vm1"])
    history.events.append(_effect(17, "container-replaced", seen=seen))
    assert effects.judge(history, None).ok == ok


@pytest.mark.parametrize(("clear", "ok"), [(True, True), (False, False)])
def test_a_provider_fault_must_make_an_upload_fail_with_the_service_s_503(clear, ok):
    history = _with_fault("clear-503", [])
    history.ops.append(upload(12.0, 999, ok=False, status=503, clear_503=clear))
    took = effects.judge(history, None)
    assert took.ok == ok
    assert ok or took.got == (
        "fault had no effect: no upload inside the window was refused with the service's 503"
    )


def test_a_fault_never_injected_had_no_effect():
    history = vip_failover_history()
    history.events = [e for e in history.events if e.name != "injected"]
    assert effects.judge(history, "silent").got == "fault had no effect: it was never injected"


# -- the watches, against scripted VM answers ---------------------------------------------


@dataclass
class Scripted:
    """An executor whose VMs print the next scripted answer, whatever they are asked."""

    answers: list[str]
    asked: list[list[str]] = field(default_factory=list)

    def argv(self, vm: VM, command: list[str]) -> list[str]:
        self.asked.append(command)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return [sys.executable, "-c", f"import sys; sys.stdin.read(); print({answer!r})"]


def _ctx(answers: list[str], vms: list[str], **params: object) -> Context:
    executor = Scripted(answers)
    return Context(TARGET, executor, None, [TARGET.vm(n) for n in vms], dict(params))  # type: ignore[arg-type]


def _watched(watch: evidence.Watch, within_s: float = 3.0) -> dict:
    watch.before()
    watch.start(within_s)
    watch.join()
    (event,) = [e for e in watch.journal.snapshot().events if e.name == "effect"]
    return event.detail


def test_the_members_watch_sees_the_cut_off_vm_failed_on_a_spared_vm():
    alive = json.dumps([{"Name": "vm1", "Addr": "10.0.0.11", "Status": 1}])
    failed = json.dumps([{"Name": "vm1", "Addr": "10.0.0.11", "Status": 4}])
    watch = evidence.MembersFailed(_ctx([alive, failed], ["vm1"]), Journal())
    detail = _watched(watch)
    assert detail == {
        "rule": "members-failed",
        "seen": True,
        "vm": "vm2",
        "failed": ["vm1"],
        "left": [],
    }


def test_a_cut_off_vm_autopilot_already_reaped_counts_as_seen_failed():
    # Consul's autopilot turns a failed server into "left" seconds after Serf declares it
    # failed: a look that comes late finds it so (partition-vm failed twice on that).
    alive = json.dumps([{"Name": "vm1", "Addr": "10.0.0.11", "Status": 1}])
    left = json.dumps([{"Name": "vm1", "Addr": "10.0.0.11", "Status": 3}])
    detail = _watched(evidence.MembersFailed(_ctx([alive, left], ["vm1"]), Journal()))
    assert (detail["seen"], detail["failed"], detail["left"]) == (True, ["vm1"], ["vm1"])


def test_a_watch_that_never_sees_the_effect_says_so_at_its_deadline():
    alive = json.dumps([{"Name": "vm1", "Addr": "10.0.0.11", "Status": 1}])
    detail = _watched(evidence.MembersFailed(_ctx([alive], ["vm1"]), Journal()), within_s=1.2)
    assert (detail["seen"], detail["failed"]) == (False, [])


def test_the_unit_watch_needs_every_unit_inactive():
    ctx = _ctx(
        ["active\nactive", "inactive\nactive", "inactive\ninactive"], ["vm2"], agent="docker"
    )
    detail = _watched(evidence.UnitInactive(ctx, Journal()))
    assert detail["units"] == {"vm2": {"docker.socket": "inactive", "docker": "inactive"}}
    assert detail["seen"]


def test_the_container_watch_needs_another_container_than_before():
    ctx = _ctx(["aaa", "aaa", "", "bbb"], ["vm3"], task="backend")
    detail = _watched(evidence.ContainerReplaced(ctx, Journal()))
    assert detail == {
        "rule": "container-replaced",
        "seen": True,
        "before": {"vm3": ["aaa"]},
        "after": {"vm3": ["bbb"]},
    }


@pytest.mark.parametrize(
    ("effect", "lab", "watch"),
    [
        ("silent", "lab", None),
        ("silent", None, evidence.MembersFailed),
        ("members-failed", "lab", evidence.MembersFailed),
        ("unit-inactive", "lab", evidence.UnitInactive),
        ("container-replaced", "lab", evidence.ContainerReplaced),
        ("clear-503", "lab", None),
    ],
)
def test_each_rule_has_its_watch_where_the_journal_is_not_enough(effect, lab, watch):
    target = Target(TARGET.url, TARGET.vip, TARGET.vms, None, None, lab=lab)
    ctx = Context(target, Scripted(["x"]), None, [], {})  # type: ignore[arg-type]
    found, _ = evidence.watch_for(effect, ctx, Journal(), 12.0)
    assert (type(found) if found else None) is watch
