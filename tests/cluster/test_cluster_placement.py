"""Every VM serves everything: one container of each service, HAProxy sees all of them."""

from __future__ import annotations

import csv
import io
from collections import Counter
from typing import Any

import pytest

pytestmark = pytest.mark.lab

_JOB_LABEL = "com.hashicorp.nomad.job_name"


def test_vm_runs_one_container_of_each_service(vm: Any) -> None:
    names = vm.check_output(
        "docker ps --filter label=%s --format '{{.Label \"%s\"}}'", _JOB_LABEL, _JOB_LABEL
    ).split()
    assert Counter(names) == {"imgcloud-frontend": 1, "imgcloud-backend": 1, "imgcloud-worker": 1}


@pytest.mark.parametrize("name", ["haproxy", "keepalived"])
def test_vm_runs_the_service(vm: Any, name: str) -> None:
    assert vm.service(name).is_running
    assert vm.service(name).is_enabled


def test_vm_haproxy_configuration_is_valid(vm: Any) -> None:
    result = vm.run("haproxy -c -f /etc/haproxy/haproxy.cfg")
    assert result.rc == 0, result.stdout + result.stderr


def _haproxy_servers(vm: Any, address: str) -> dict[str, list[str]]:
    """HAProxy backend -> the status of each server slot filled from Consul DNS."""
    text = vm.check_output(f"curl -fsS 'http://{address}:8404/stats;csv'")
    rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
    servers: dict[str, list[str]] = {}
    for row in rows:
        empty_slot = "(resolution)" in row["status"]
        if row["svname"] not in ("FRONTEND", "BACKEND") and not empty_slot:
            servers.setdefault(row["pxname"], []).append(row["status"])
    return servers


def test_vm_haproxy_sees_every_instance_up(
    vm: Any, vm_name: str, hostvars: dict[str, dict[str, Any]], cluster_names: list[str]
) -> None:
    servers = _haproxy_servers(vm, hostvars[vm_name]["ansible_host"])
    everyone_up = ["UP"] * len(cluster_names)
    assert servers.get("imgcloud_backend") == everyone_up
    assert servers.get("imgcloud_frontend") == everyone_up


def test_floating_ip_is_on_exactly_one_vm(vms: dict[str, Any], vip: str) -> None:
    addresses = {name: host.check_output("ip -o -4 addr show") for name, host in vms.items()}
    holders = [name for name, text in addresses.items() if f" {vip}/" in text]
    assert len(holders) == 1, f"{vip} is on {holders or 'no VM'}"


def _witness_status(vm: Any) -> dict[str, str]:
    text = vm.file("/run/imgcloud-witness").content_string
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def test_vm_witness_passes_on_a_fresh_consul_leader(vm: Any) -> None:
    """The VIP check reads Consul's leader from the witness instead of a curl per
    second (its TLS handshake was most of the floating IP's CPU): the witness must
    be fresh, have asked its agent, and name a leader, on every VM."""
    status = _witness_status(vm)
    age = int(vm.check_output("date +%s")) - int(status["WITNESS_AT"])
    assert age <= 3, f"the witness's status is {age} s old"
    assert status["WITNESS_CONSUL"] == "yes", status
    assert status["WITNESS_LEADER"].strip("'\"").endswith(":8300"), status


def test_vm_vip_check_passes_without_starting_curl(vm: Any) -> None:
    # bash -x traces every command the check runs (its own level only: the peer
    # probes run in `timeout bash -c`).
    result = vm.run("bash -x /etc/keepalived/check_vip.sh")
    assert result.rc == 0, result.stderr
    commands = [line.lstrip("+ ") for line in result.stderr.splitlines() if line.startswith("+")]
    assert commands, "bash -x traced nothing"
    forks = [c for c in commands if c.split(" ", 1)[0] in ("curl", "date", "stat", "cat")]
    assert not forks, f"the check started {forks}"
