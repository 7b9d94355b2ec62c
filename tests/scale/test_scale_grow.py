"""Adding VMs under traffic: the inventory names one more VM and the same deploy
brings it in (`python -m lab up --vms N`, then `python -m deploy`), one VM per step,
while a steady client uploads and reads through the floating IP and every VM is
sampled for its Consul and Nomad leader. No request fails, the cluster is never
without a leader, nothing acknowledged is lost, and after each step every VM is a
Raft voter of both, runs every job and is a server in every HAProxy."""

from __future__ import annotations

import os

import pytest
from scale_watch import UnderTraffic, problems, run_module, summary, write_line

from chaos.health import wait_healthy
from chaos.target import Target, lab_target

pytestmark = [pytest.mark.lab, pytest.mark.slow]

GROW_TO = int(os.environ.get("IMGCLOUD_SCALE_VMS", "5"))
HEAL_DEADLINE_S = 300.0


def test_vms_join_one_at_a_time_under_traffic(lab_before: Target) -> None:
    first = len(lab_before.vms)
    assert first < GROW_TO, f"the lab has {first} VMs already, nothing to add"
    watch = UnderTraffic(lab_before)
    watch.start()
    try:
        for count in range(first + 1, GROW_TO + 1):
            watch.event("lab-up", vms=count)
            up = run_module("lab", "up", "--vms", str(count))
            assert up.returncode == 0, f"lab up --vms {count}:\n{up.stderr[-3000:]}"
            watch.event("deploy", vms=count)
            deployed = run_module("deploy")
            assert deployed.returncode == 0, f"deploy to {count} VMs:\n{deployed.stdout[-4000:]}"
            watch.resized(lab_target())
            whole = wait_healthy(watch.executor, watch.target, HEAL_DEADLINE_S)
            assert not whole, f"not whole at {count} VMs: {whole[:3]}"
            watch.event("whole", vms=count)
    finally:
        history = watch.finish("grow")
    found, fig = problems(history, watch.target.names())
    line = summary(f"{first} -> {len(watch.target.vms)} VMs", fig["duration_s"], fig, watch.host)
    write_line("grow", line + (f"; FAILED: {found}" if found else ""))
    print(line)
    assert not found, found
