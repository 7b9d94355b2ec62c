"""Each VM boots like a cloud VM, is reachable only through the bastion and runs
containers in its own Docker engine."""

from __future__ import annotations

import ipaddress
import subprocess
from pathlib import Path
from typing import Any

import pytest
from labtools import docker, port_refused, ssh

pytestmark = pytest.mark.lab


def test_vm_boots_systemd_to_running(ssh_config: Path, vm: str) -> None:
    result = ssh(ssh_config, vm, "systemctl is-system-running --wait")
    assert result.stdout.strip() == "running", result.stdout + result.stderr


def test_ssh_through_the_bastion_reaches_the_vm(ssh_config: Path, vm: str) -> None:
    result = ssh(ssh_config, vm, "hostname && sudo -n id -u")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [vm, "0"]


def test_inventory_proxy_command_reaches_the_vm(
    lab: dict[str, Any], node_by_name: dict[str, dict[str, str]], vm: str
) -> None:
    """The exact ssh arguments Ansible gets from the inventory work."""
    bastion = lab["bastion"]
    proxy = (
        f"ssh -i {bastion['key']} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
        f" -W %h:%p -p {bastion['port']} {bastion['user']}@{bastion['host']}"
    )
    result = subprocess.run(
        ["ssh", "-o", f"ProxyCommand={proxy}", "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-i", bastion["key"],
         f"debian@{node_by_name[vm]['address']}", "hostname"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.stdout.strip() == vm, result.stderr


def _direct_ssh(lab: dict[str, Any], address: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ssh", "-i", lab["bastion"]["key"], "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         f"debian@{address}", "true"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_direct_ssh_from_the_controller_is_refused(
    lab: dict[str, Any], node_by_name: dict[str, dict[str, str]], vm: str
) -> None:
    address = node_by_name[vm]["address"]
    result = _direct_ssh(lab, address)
    assert result.returncode == 255, result.stdout
    assert port_refused(address)


def test_vm_runs_a_container_in_its_own_engine(lab: dict[str, Any], vm: str) -> None:
    container = f"{lab['name']}-{vm}"
    with subprocess.Popen(
        ["docker", "save", "imgcloud-lab/base:bookworm"], stdout=subprocess.PIPE
    ) as saved:
        loaded = subprocess.run(
            ["docker", "exec", "-i", container, "docker", "load", "--quiet"],
            stdin=saved.stdout, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr
    inner = docker(
        "exec", container, "docker", "run", "--rm", "imgcloud-lab/base:bookworm",
        "sh", "-c", "cat /proc/1/cgroup | head -1; echo inner-ok",
    )  # fmt: skip
    assert inner.endswith("inner-ok")
    assert f"{lab['name']}-{vm}-docker" in inner  # the VM's own cgroup parent
    assert docker("exec", container, "docker", "info", "--format", "{{.Name}} {{.Driver}}") == (
        f"{vm} overlay2"
    )


def test_vip_is_reserved_and_unused(lab: dict[str, Any]) -> None:
    network = docker(
        "network", "inspect", "--format",
        "{{range .IPAM.Config}}{{.IPRange}}{{end}} "
        "{{range .Containers}}{{.IPv4Address}} {{end}}", lab["network"],
    ).split()  # fmt: skip
    ip_range, addresses = network[0], network[1:]
    assert ipaddress.ip_address(lab["vip"]) not in ipaddress.ip_network(ip_range)
    assert lab["vip"] not in [a.split("/")[0] for a in addresses]


def test_vm_has_its_own_address_on_eth0(
    ssh_config: Path, vm: str, node_by_name: dict[str, dict[str, str]]
) -> None:
    result = ssh(ssh_config, vm, "ip -4 -o addr show dev eth0")
    assert f"inet {node_by_name[vm]['address']}/24" in result.stdout
