"""Removing VMs under traffic, the newest first, one per step, down to three:
`playbooks/remove-vm.yml -e remove_vm=vmN` drains it, lets the floating IP go and
takes it out of Consul's and Nomad's Raft; then the machine goes (`python -m lab up
--vms N-1`) and a deploy makes the others forget it. No request fails, the cluster
is never without a leader, nothing acknowledged is lost, and after each step the
Raft configurations hold exactly the VMs left, every one a voter."""

from __future__ import annotations

import subprocess

import pytest
from scale_watch import UnderTraffic, problems, run_module, summary, write_line

from chaos.health import wait_healthy
from chaos.target import Target, lab_target
from deploy import ROOT
from deploy.ansible import environment, tool
from lab.status import read_status
from lab.topology import lab_name

pytestmark = [pytest.mark.lab, pytest.mark.slow]

SHRINK_TO = 3
HEAL_DEADLINE_S = 300.0


def _remove(name: str) -> str:
    inventory = read_status(lab_name(None))["inventory"]
    proc = subprocess.run(
        [tool("ansible-playbook"), "-i", inventory, str(ROOT / "playbooks" / "remove-vm.yml"),
         "-e", f"remove_vm={name}"],
        cwd=ROOT, env=environment(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, f"remove-vm.yml -e remove_vm={name}:\n{proc.stdout[-4000:]}"
    return proc.stdout


def test_vms_leave_one_at_a_time_under_traffic(lab_before: Target) -> None:
    first = len(lab_before.vms)
    assert first > SHRINK_TO, (
        f"the lab has {first} VMs: grow it first (tests/scale/test_scale_grow.py)"
    )
    watch = UnderTraffic(lab_before)
    watch.start()
    try:
        for count in range(first - 1, SHRINK_TO - 1, -1):
            leaving = watch.target.names()[-1]
            watch.event("remove-vm", vm=leaving)
            _remove(leaving)
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
        history = watch.finish("shrink")
    names = [n for n in lab_before.names() if n in watch.target.names()]
    found, fig = problems(history, names)
    line = summary(f"{first} -> {len(watch.target.vms)} VMs", fig["duration_s"], fig, watch.host)
    write_line("shrink", line + (f"; FAILED: {found}" if found else ""))
    print(line)
    assert not found, found
