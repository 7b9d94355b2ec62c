"""Adding VMs under traffic: the inventory names more VMs and the same deploy brings
them in (`python -m lab up --vms N`, then `python -m deploy`), one VM per step, while
a steady client uploads and reads through the floating IP and every VM is sampled
for its Consul and Nomad leader. Every step: no request fails, the cluster never
goes without a leader, nothing acknowledged is lost, and afterwards every VM is a
Raft voter of both, runs every job, and is a server in every HAProxy.

The lab stays at the size it grew to (the scale lane runs last)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chaos import checkers, timeline
from chaos.client import SteadyClient
from chaos.health import wait_healthy
from chaos.journal import Journal
from chaos.observer import Observer
from chaos.remote import executor_for
from chaos.target import Target, lab_target
from deploy import ROOT

pytestmark = [pytest.mark.lab, pytest.mark.slow]

GROW_TO = int(os.environ.get("IMGCLOUD_SCALE_VMS", "5"))
# Samples are 0.25 s apart per VM; a leaderless stretch shorter than two of them is
# one VM's answer caught mid-restart, not the cluster without a leader.
LEADERLESS_ALLOWED_S = 0.6
HEAL_DEADLINE_S = 300.0


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


def _grow(count: int, journal: Journal) -> Target:
    journal.event(time.time(), "lab-up", vms=count)
    up = _run("lab", "up", "--vms", str(count))
    assert up.returncode == 0, f"lab up --vms {count} failed:\n{up.stderr[-3000:]}"
    journal.event(time.time(), "deploy", vms=count)
    deployed = _run("deploy")
    assert deployed.returncode == 0, f"the deploy to {count} VMs failed:\n{deployed.stdout[-4000:]}"
    journal.event(time.time(), "deployed", vms=count)
    return lab_target()


def test_vms_join_one_at_a_time_under_traffic(lab_before: Target) -> None:
    start_count = len(lab_before.vms)
    assert start_count < GROW_TO, f"the lab has {start_count} VMs already, nothing to add"
    executor = executor_for(lab_before)
    journal = Journal()
    observers = [Observer(executor, lab_before, journal)]
    client = SteadyClient(lab_before.url, journal)
    observers[0].start()
    client.start()
    journal.event(time.time(), "start")
    target = lab_before
    try:
        for count in range(start_count + 1, GROW_TO + 1):
            grown = _grow(count, journal)
            new = tuple(vm for vm in grown.vms if vm.name not in target.names())
            observer = Observer(executor, grown, journal, watch=new)
            observer.start()
            observers.append(observer)
            target = grown
            problems = wait_healthy(executor, target, HEAL_DEADLINE_S)
            assert not problems, f"not whole at {count} VMs: {problems[:3]}"
    finally:
        journal.event(time.time(), "traffic-end")
        client.stop()
        client.verify(deadline_s=90)
        client.close()
        for observer in observers:
            observer.stop()
        journal.event(time.time(), "end")
        journal.write(Path(ROOT / "reports" / "scale" / "grow.jsonl"))

    history = journal.snapshot()
    names = target.names()
    fig = checkers.figures(history, names)
    t0, t1 = history.time_of("start") or 0.0, history.time_of("traffic-end") or 0.0
    assert fig["ops"] >= 100, f"too little traffic to judge: {fig['ops']} operations"
    assert fig["failed"] == 0, f"{fig['failed']} requests failed: {fig['failed_by_reason']}"
    for verdict in checkers.history_verdicts(fig):
        assert verdict.ok, f"{verdict.check}: {verdict.got}"
    for field in ("consul_leader", "nomad_leader"):
        gap = timeline.longest_leaderless(history.samples, field, t0, t1, set(names))
        assert gap <= LEADERLESS_ALLOWED_S, f"{field}: {gap:.2f} s without a leader"
    assert not fig["split_brain"], f"two floating-IP holders: {fig['split_brain']}"
    print(
        f"grew {start_count} -> {len(names)} VMs in {t1 - t0:.0f} s: {fig['ops']} operations, "
        f"0 failed, Consul leader changes {fig['consul_leader_changes']}, "
        f"Nomad {fig['nomad_leader_changes']}"
    )
