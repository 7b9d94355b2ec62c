"""A rollout while one VM's Nomad client is out of reach is refused at once, with the reason.

Every service runs one instance per VM, so Nomad cannot place the new version on a VM
whose client it cannot reach (its allocations are `unknown`): the deployment would wait
until its progress deadline (10 min) and roll back. The imgcloud role asks first and
says why instead; the service keeps running meanwhile.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cluster_playbooks import run_playbook

from deploy.credentials import NOMAD_API, VM_CA_FILE, Credentials
from deploy.health import cluster_problems
from deploy.image import project_version

pytestmark = [pytest.mark.lab, pytest.mark.destructive]

JOBS = ("imgcloud-frontend", "imgcloud-backend", "imgcloud-worker")


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout:.0f} s: {what}")
        time.sleep(1)


@pytest.fixture
def allocations(
    vms: dict[str, Any], cluster_names: list[str], credentials: Credentials
) -> Callable[[str], list[dict[str, Any]]]:
    """A job's allocations, read from Nomad's API on the first VM."""
    first = vms[cluster_names[0]]
    header = f"X-Nomad-Token: {credentials.nomad_deploy_token}"

    def read(job: str) -> list[dict[str, Any]]:
        url = f"{NOMAD_API}/v1/job/{job}/allocations"
        return json.loads(
            first.check_output(f"curl -fsS --cacert {VM_CA_FILE} -H %s {url}", header)
        )

    return read


def _unknown_on(allocations: Callable[[str], list[dict[str, Any]]], name: str) -> list[str]:
    return [
        a["Name"]
        for job in JOBS
        for a in allocations(job)
        if a["NodeName"] == name and a["ClientStatus"] == "unknown"
    ]


@pytest.fixture
def nomad_stopped(
    inventory: Path,
    vms: dict[str, Any],
    cluster_names: list[str],
    allocations: Callable[[str], list[dict[str, Any]]],
) -> Iterator[str]:
    """The last VM's Nomad agent stopped (not the first VM's: the role asks Nomad from
    there); started again afterwards, its allocations reconnected before the next test."""
    name = cluster_names[-1]
    vms[name].check_output("systemctl stop nomad")
    try:
        yield name
    finally:
        vms[name].check_output("systemctl start nomad")
        _wait_for(lambda: not cluster_problems(inventory), 180, "Consul and Nomad whole again")
        _wait_for(lambda: not _unknown_on(allocations, name), 180, f"{name} reconnected")


def test_a_rollout_with_a_vm_out_of_nomad_s_reach_is_refused_with_the_reason(
    inventory: Path,
    allocations: Callable[[str], list[dict[str, Any]]],
    nomad_stopped: str,
) -> None:
    _wait_for(
        lambda: bool(_unknown_on(allocations, nomad_stopped)),
        120,
        f"Nomad calling {nomad_stopped}'s allocations unknown",
    )
    started = time.monotonic()
    result = run_playbook(inventory, "update.yml", "-e", f"imgcloud_version={project_version()}")
    seconds = time.monotonic() - started
    print(f"\nrefused in {seconds:.0f} s")
    assert result.returncode != 0, result.output[-3000:]
    assert f"Nomad cannot reach the client on {nomad_stopped}" in result.output, result.output[
        -3000:
    ]
    # Refused before anything was registered: no deployment waits out its deadline.
    assert "Register the jobs that differ" not in result.output
