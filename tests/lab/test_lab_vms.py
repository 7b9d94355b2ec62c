"""Each VM boots like a cloud VM, is reachable only through the bastion and runs
containers in its own Docker engine."""

from __future__ import annotations

import ipaddress
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from labtools import docker, port_refused, ssh

pytestmark = pytest.mark.lab


def test_vm_boots_systemd_to_running(ssh_config: Path, vm: str) -> None:
    result = ssh(ssh_config, vm, "systemctl is-system-running --wait")
    assert result.stdout.strip() == "running", result.stdout + result.stderr


def test_ssh_through_the_bastion_reaches_the_vm(ssh_config: Path, vm: str) -> None:
    result = ssh(ssh_config, vm, "hostname && sudo -n id -u")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [vm, "0"]


def _inventory_ssh(
    lab: dict[str, Any], vm: str, known_hosts: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`hostname` on `vm` with the exact ssh arguments Ansible gets from the inventory
    (their known_hosts file swapped for `known_hosts` when given)."""
    inventory = yaml.safe_load(Path(lab["inventory"]).read_text())["all"]
    args = inventory["vars"]["ansible_ssh_common_args"]
    if known_hosts is not None:
        args = args.replace(lab["known_hosts"], known_hosts)
    address = inventory["children"]["cluster"]["hosts"][vm]["ansible_host"]
    return subprocess.run(
        ["ssh", *shlex.split(args), "-o", "BatchMode=yes", "-i", lab["bastion"]["key"],
         f"debian@{address}", "hostname"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_inventory_proxy_command_reaches_the_vm(lab: dict[str, Any], vm: str) -> None:
    result = _inventory_ssh(lab, vm)
    assert result.stdout.strip() == vm, result.stderr


def test_a_vm_whose_host_key_is_not_the_pinned_one_is_refused(
    lab: dict[str, Any], node_by_name: dict[str, dict[str, str]], vm: str, tmp_path: Path
) -> None:
    # The lab's known_hosts with this VM's keys swapped for a stranger's: what an
    # impostor on the VM's address would show. ssh must refuse before logging in.
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "stranger")],
        check=True,
    )
    stranger = " ".join((tmp_path / "stranger.pub").read_text().split()[:2])
    address = node_by_name[vm]["address"]
    pinned = Path(lab["known_hosts"]).read_text().splitlines()
    assert any(line.startswith(f"{address} ") for line in pinned), pinned
    swapped = [line for line in pinned if not line.startswith(f"{address} ")]
    (tmp_path / "known_hosts").write_text("\n".join([*swapped, f"{address} {stranger}"]) + "\n")
    result = _inventory_ssh(lab, vm, str(tmp_path / "known_hosts"))
    assert result.returncode == 255 and result.stdout == "", result.stdout
    assert "Host key verification failed" in result.stderr, result.stderr


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
