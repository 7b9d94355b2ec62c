"""A rollout while one VM's Nomad client is out of reach is refused at once, with the reason.

Every service runs one instance per VM, so Nomad cannot place the new version on a VM
whose client it cannot reach (its allocations are `unknown`): the deployment would wait
until its progress deadline (10 min) and roll back. The imgcloud role asks first and
says why instead; the service keeps running meanwhile.

The VM stopped is made Nomad's leader first, the worst case: a newly elected leader
gives every client `failover_heartbeat_ttl` to heartbeat before it calls one down
(Nomad's default 5 min kept the old leader's allocations `running` that long; the
role sets 30 s: `unknown` after 30-40 s, 33 s measured), so the test gives Nomad
120 s to notice, not the 300 s the default would need.

The test reads the allocations from the controller, through python-nomad
(deploy.nomad_client), at the private address of the VMs it spares: the lab's VMs
are reachable from here (the test is the lab's: it stops an agent).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cluster_playbooks import run_playbook

from deploy.credentials import NOMAD_HTTP_PORT, Credentials
from deploy.health import cluster_problems
from deploy.image import project_version
from deploy.nomad_client import NomadClient, NomadError

pytestmark = [pytest.mark.lab, pytest.mark.destructive]

JOBS = ("imgcloud-frontend", "imgcloud-backend", "imgcloud-worker")


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Wait for `condition` and return how long it took, riding through Nomad's
    elections: when the stopped VM was the leader, the spared servers answer 500
    ("failed to get conn" to the old leader) until they elect another. That is not yet,
    not a failure; the message says how Nomad last answered if the deadline passes."""
    started = time.monotonic()
    last = "never asked"
    while True:
        try:
            if condition():
                return time.monotonic() - started
            last = "answered, the condition not yet true"
        except NomadError as error:
            last = f"no answer: {error}"
        if time.monotonic() - started > timeout:
            pytest.fail(f"not within {timeout:.0f} s: {what} (Nomad, last: {last})")
        time.sleep(1)


@pytest.fixture
def stopped_vm(cluster_names: list[str]) -> str:
    """The VM whose agent is stopped: the last one (the role asks Nomad from the first)."""
    return cluster_names[-1]


def _addresses(hostvars: dict[str, dict[str, Any]], names: list[str]) -> list[str]:
    """Nomad's HTTPS API on each VM named, at its private address."""
    return [f"https://{hostvars[name]['ansible_host']}:{NOMAD_HTTP_PORT}" for name in names]


@pytest.fixture
def nomad(
    hostvars: dict[str, dict[str, Any]],
    cluster_names: list[str],
    credentials: Credentials,
    stopped_vm: str,
) -> NomadClient:
    """Nomad's API on the VMs the test spares, asked from the controller."""
    spared = [name for name in cluster_names if name != stopped_vm]
    return NomadClient(
        _addresses(hostvars, spared), credentials.nomad_deploy_token, credentials.ca_file
    )


@pytest.fixture
def nomad_operator(
    hostvars: dict[str, dict[str, Any]], cluster_names: list[str], credentials: Credentials
) -> NomadClient:
    """Nomad's API on every VM with the management token: Raft's configuration."""
    return NomadClient(
        _addresses(hostvars, cluster_names), credentials.nomad_token, credentials.ca_file
    )


def _leader_id(operator: NomadClient) -> str:
    return next((str(s["ID"]) for s in operator.raft_servers() if s["Leader"]), "")


def _make_leader(operator: NomadClient, name: str) -> None:
    """Hand Nomad's leadership to VM `name` and wait until the cluster agrees."""
    ids = {str(s["Node"]).split(".")[0]: str(s["ID"]) for s in operator.raft_servers()}
    assert name in ids, f"{name} is not a Nomad server: {sorted(ids)}"
    if _leader_id(operator) != ids[name]:
        operator.transfer_leadership(ids[name])
    _wait_for(lambda: _leader_id(operator) == ids[name], 30, f"{name} leading Nomad")


def _unknown_on(nomad: NomadClient, name: str) -> list[str]:
    """The allocations Nomad calls `unknown` on VM `name`."""
    return [
        str(a["Name"])
        for job in JOBS
        for a in nomad.allocations(job)
        if a["NodeName"] == name and a["ClientStatus"] == "unknown"
    ]


@pytest.fixture
def nomad_stopped(
    inventory: Path,
    vms: dict[str, Any],
    nomad: NomadClient,
    nomad_operator: NomadClient,
    stopped_vm: str,
) -> Iterator[str]:
    """`stopped_vm`'s Nomad agent stopped while it leads Nomad; started again
    afterwards, and its allocations reconnected before the next test."""
    _make_leader(nomad_operator, stopped_vm)
    vms[stopped_vm].check_output("systemctl stop nomad")
    try:
        yield stopped_vm
    finally:
        vms[stopped_vm].check_output("systemctl start nomad")
        _wait_for(lambda: not cluster_problems(inventory), 180, "Consul and Nomad whole again")
        _wait_for(lambda: not _unknown_on(nomad, stopped_vm), 180, f"{stopped_vm} reconnected")


def test_a_rollout_with_a_vm_out_of_nomad_s_reach_is_refused_with_the_reason(
    inventory: Path, nomad: NomadClient, nomad_stopped: str
) -> None:
    noticed = _wait_for(
        lambda: bool(_unknown_on(nomad, nomad_stopped)),
        120,
        f"Nomad calling {nomad_stopped}'s allocations unknown",
    )
    print(f"\n{nomad_stopped} (the leader) out of reach: allocations unknown after {noticed:.0f} s")
    versions = {job: nomad.job(job)["Version"] for job in JOBS}
    result = run_playbook(inventory, "update.yml", "-e", f"imgcloud_version={project_version()}")
    print(f"refused in {result.seconds:.0f} s")
    assert result.returncode != 0, result.output[-3000:]
    assert f"Nomad cannot reach the client on {nomad_stopped}" in result.output, result.output[
        -3000:
    ]
    # Refused before anything was registered: no job has a new version waiting out
    # its progress deadline.
    assert {job: nomad.job(job)["Version"] for job in JOBS} == versions
