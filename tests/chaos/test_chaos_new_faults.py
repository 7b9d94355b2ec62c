"""The provider, VM-resource and release faults without a cluster: their effect rules on
planted histories, the targets that cannot run them, and the pure parts of their
injectors (toxic names, Nomad job specs, the scripts' guards)."""

from __future__ import annotations

import pytest
from chaos_fakes import T0, VMS, vip_failover_history

from chaos import checkers, effects, faults_provider, faults_vm, nomad_api
from chaos.experiments import CATALOGUE, Expect, by_name
from chaos.faults import FAULTS
from chaos.journal import Event, History
from chaos.runner import run_experiment
from chaos.target import VM, Target, ToxiproxyInfo, from_lab_status

VMS3 = tuple(VM(f"vm{i}", f"10.0.0.1{i}", f"lab-vm{i}") for i in (1, 2, 3))
LAB = Target("https://10.0.0.250/", "10.0.0.250", VMS3, None, None, lab="lab")
LAB_WITH_TOXIPROXY = Target(
    LAB.url,
    LAB.vip,
    VMS3,
    None,
    None,
    lab="lab",
    toxiproxy=ToxiproxyInfo("http://10.0.0.3:8474", ("amqp", "s3")),
)
REAL = Target(LAB.url, LAB.vip, tuple(VM(v.name, v.address) for v in VMS3), None, None)
NEW = [
    "slow-s3",
    "slow-broker",
    "s3-bandwidth",
    "s3-resets",
    "broker-timeout",
    "kill-vm-during-rollout",
    "crash-loop-release",
    "full-disk",
    "clock-jump",
]


def _history(effect: str, vms: list[str], **params: object) -> History:
    history = vip_failover_history()
    fault = history.event("fault")
    assert fault is not None
    fault.detail.update(effect=effect, vms=vms, backend="lab", params=params)
    return history


def _effect(t: float, rule: str, seen: bool = True, **detail: object) -> Event:
    return Event(T0 + t, "effect", {"rule": rule, "seen": seen, **detail})


def _toxic_seen(t: float = 11.0) -> Event:
    toxics = [{"name": "imgcloud-chaos-latency-downstream", "type": "latency"}]
    return _effect(t, "toxic", proxy="s3", toxics=toxics)


def _slow_uploads(history: History, latency: float) -> History:
    for op in history.ops:
        if op.kind == "upload" and op.ok and T0 + 10 <= op.start <= T0 + 22:
            op.end = op.start + latency
    return history


@pytest.mark.parametrize("name", NEW)
def test_each_new_experiment_is_in_the_catalogue_with_its_rule(name):
    experiment = by_name(name)
    assert FAULTS[experiment.fault].effect in effects.WANT
    assert experiment.hypothesis.endswith(".")


@pytest.mark.parametrize("name", ["slow-s3", "slow-broker", "s3-bandwidth"])
def test_a_slower_provider_must_fail_nothing(name):
    assert by_name(name).expect.max_failed == 0


@pytest.mark.parametrize("name", ["s3-resets", "broker-timeout"])
def test_a_breaking_provider_may_only_answer_clear_503s(name):
    assert by_name(name).expect.only_503


def test_a_toxic_read_back_and_slower_uploads_took_effect():
    history = _slow_uploads(_history("toxic-slow", [], min_added_s=0.4), 1.0)
    history.events.append(_toxic_seen())
    took = effects.judge(history, None)
    assert took.ok, took.got
    assert "upload p50 0.05 s before, 1.00 s inside" in took.got


def test_a_toxic_installed_but_unseen_by_the_service_had_no_effect():
    history = _history("toxic-slow", [], min_added_s=0.4)
    history.events.append(_toxic_seen())
    took = effects.judge(history, None)
    assert not took.ok
    assert took.got.startswith("fault had no effect: upload p50 0.05 s before, 0.05 s inside")
    first = checkers.verdicts(Expect(), checkers.figures(history, VMS), [])[0]
    assert (first.check, first.ok) == ("fault took effect", False)


def test_slower_uploads_without_the_toxic_read_back_had_no_effect():
    history = _slow_uploads(_history("toxic-slow", [], min_added_s=0.4), 1.0)
    history.events.append(_effect(11, "toxic", seen=False, proxy="s3", toxics=[]))
    took = effects.judge(history, None)
    assert took.got.startswith("fault had no effect: the toxic was never read back")


def test_too_few_uploads_to_compare_is_no_effect():
    history = _history("toxic-slow", [])
    history.ops = [op for op in history.ops if op.kind != "upload" or op.start > T0 + 8]
    history.events.append(_toxic_seen())
    assert "too few answered uploads to compare" in effects.judge(history, None).got


@pytest.mark.parametrize(("clear", "ok"), [(True, True), (False, False)])
def test_resets_and_stalls_must_show_as_the_service_s_503(clear, ok):
    from chaos_fakes import upload

    history = _history("toxic-503", [])
    history.events.append(_toxic_seen())
    history.ops.append(upload(12.0, 999, ok=False, status=503, clear_503=clear))
    took = effects.judge(history, None)
    assert took.ok == ok
    assert ok or took.got.startswith("fault had no effect: on s3: ")


@pytest.mark.parametrize(
    ("rule", "detail"), [("disk-full", {"free": {"vm1": 4096}}), ("clock-skewed", {"skew_s": 90})]
)
def test_a_vm_resource_fault_needs_its_reading(rule, detail):
    history = _history(rule, ["vm1"])
    assert effects.judge(history, None).got.startswith("fault had no effect: vm1 never")
    history.events.append(_effect(12, rule, **detail))
    assert effects.judge(history, None).ok


def test_a_kill_during_a_rollout_needs_the_rollout_still_running():
    history = _history("silent-during-rollout", ["vm1"])
    took = effects.judge(history, None)
    assert took.got == (
        "fault had no effect: silent: vm1 12.0 s, but no rollout was still running after the kill"
    )
    history.events.append(_effect(11, "rollout-running", deployment="abcd", version=7))
    assert effects.judge(history, None) == effects.Effect(
        True, "silent: vm1 12.0 s while deployment abcd of v7 ran"
    )


def test_a_crash_loop_must_be_reverted_by_nomad_itself():
    history = _history("release-reverted", [])
    assert effects.judge(history, None).got.startswith(
        "fault had no effect: Nomad never rolled the release back itself"
    )
    history.events.append(
        _effect(30, "release-reverted", crashed=["a1"], reverted="rolling back to job version 4")
    )
    assert effects.judge(history, None).ok  # after the rollback: Nomad reverts on its own time


# -- where they cannot run -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "target", "why"),
    [
        ("slow-s3", REAL, "no Toxiproxy in front of this cluster's S3 and broker"),
        ("broker-timeout", LAB, "the lab status has no provider.toxiproxy"),
        ("full-disk", LAB, "cannot fill one VM's disk"),
        ("clock-jump", LAB, "cannot jump one VM's clock: the lab's VMs share the host clock"),
    ],
)
def test_an_experiment_that_cannot_run_fails_with_the_reason(tmp_path, name, target, why):
    result = run_experiment(by_name(name), target, tmp_path, log=lambda _line: None)
    assert not result.passed
    assert result.error and result.error.startswith("cannot run on this target: ")
    assert why in result.error


@pytest.mark.parametrize(
    ("name", "target"),
    [("slow-s3", LAB_WITH_TOXIPROXY), ("full-disk", REAL), ("clock-jump", REAL)],
)
def test_where_they_can_run_nothing_stops_them(name, target):
    assert FAULTS[by_name(name).fault].why_not(target) is None


def test_the_lab_status_names_its_toxiproxy():
    status = {
        "url": "https://10.210.0.250/",
        "vip": "10.210.0.250",
        "nodes": [{"name": "vm1", "address": "10.210.0.11", "container": "imgcloud-vm1"}],
        "provider": {
            "toxiproxy": {
                "api": "http://10.210.0.3:8474/",
                "proxies": {"s3": {"listen": "10.210.0.3:9100"}, "amqp": {}},
            }
        },
    }
    assert from_lab_status(status).toxiproxy == ToxiproxyInfo(
        "http://10.210.0.3:8474", ("amqp", "s3")
    )
    del status["provider"]["toxiproxy"]
    assert from_lab_status(status).toxiproxy is None


# -- the pure parts of the injectors ----------------------------------------------------


def test_toxics_are_named_per_stream_so_a_rollback_removes_exactly_them():
    params = by_name("s3-bandwidth").params
    made = faults_provider.toxics(params)
    assert [t["name"] for t in made] == [
        "imgcloud-chaos-bandwidth-upstream",
        "imgcloud-chaos-bandwidth-downstream",
    ]
    assert all(t["attributes"] == {"rate": 64} and t["proxy"] == "s3" for t in made)
    assert faults_provider.toxics(by_name("s3-resets").params)[0]["toxicity"] == 1.0


def test_a_toxic_without_a_proxy_is_refused():
    with pytest.raises(faults_provider.FaultError, match=r"proxy s3\|amqp"):
        faults_provider.toxics({"type": "latency"})


@pytest.mark.parametrize(
    "script", [faults_vm.fill_script(), faults_vm.jump_script(90), faults_vm.unjump_script()]
)
def test_every_disk_and_clock_script_refuses_a_container(script):
    assert script.startswith("if systemd-detect-virt --container --quiet")


JOB = {
    "ID": "imgcloud-backend",
    "Version": 4,
    "Meta": {"imgcloud_version": "0.1.0"},
    "TaskGroups": [
        {
            "Update": {"HealthyDeadline": 180 * 10**9, "AutoRevert": True},
            "Tasks": [{"Config": {"image": "r/imgcloud:0.1.0", "args": ["backend"]}}],
        }
    ],
}


def test_a_rollout_is_the_same_image_under_a_new_meta_value():
    bumped = nomad_api.bumped(JOB, "123")
    assert bumped["Meta"] == {"imgcloud_version": "0.1.0", nomad_api.ROLLOUT_META: "123"}
    assert bumped["TaskGroups"] == JOB["TaskGroups"] and "imgcloud_chaos_rollout" not in JOB["Meta"]


def test_a_crash_looping_release_exits_at_once_and_gives_up_fast():
    bad = nomad_api.crash_looping(JOB)
    assert nomad_api.task_args(bad) == nomad_api.CRASH_ARGS
    assert bad["TaskGroups"][0]["Update"]["HealthyDeadline"] == 25 * 10**9
    assert nomad_api.task_args(JOB) == ["backend"]  # the good spec untouched
    assert "Version" not in nomad_api.restored(JOB)


def test_only_nomad_s_own_rollback_counts_as_a_revert():
    ours = {"JobVersion": 5, "Status": "cancelled", "StatusDescription": "newer version"}
    theirs = {
        "JobVersion": 5,
        "Status": "failed",
        "StatusDescription": "Failed due to unhealthy allocations - rolling back to job version 4",
    }
    assert nomad_api.reverted_by_nomad([ours], 5) is None
    assert nomad_api.reverted_by_nomad([ours, theirs], 5) == theirs


def test_a_crash_is_a_restart_or_a_failure_of_the_new_version():
    allocs = [
        {"ID": "old11111", "JobVersion": 4, "TaskStates": {"backend": {"Restarts": 2}}},
        {"ID": "new22222", "JobVersion": 5, "TaskStates": {"backend": {"Restarts": 1}}},
        {"ID": "new33333", "JobVersion": 5, "TaskStates": {"backend": {"Restarts": 0}}},
    ]
    assert nomad_api.crashed(allocs, 4) == ["new22222"]


def test_the_catalogue_keeps_every_experiment_name_unique():
    names = [e.name for e in CATALOGUE]
    assert len(names) == len(set(names))


def test_where_the_rollout_stood_at_the_rollback_is_said():
    history = _history("silent-during-rollout", ["vm1"])
    history.events.append(_effect(11, "rollout-running", deployment="abcd", version=7))
    history.events.append(
        Event(
            T0 + 22, "rollout-state", {"status": "running", "description": "Deployment is running"}
        )
    )
    assert effects.judge(history, None).got.endswith(
        "; at the rollback: running (Deployment is running)"
    )
