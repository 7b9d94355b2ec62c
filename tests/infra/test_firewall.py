"""Every VM drops what it was not told to take (roles/firewall).

What answers is found on the VMs themselves (`ss`: every TCP socket listening on an
address other than loopback, the tasks' published ports included), then knocked on
from where users, the bastion, the VM's peers and the operator stand. So a daemon
that starts listening on a new port is checked without this file knowing of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml
from knock import Socket, knock_from, knock_here, listening, opened

pytestmark = pytest.mark.lab

# Consul's server RPC and Serf, Nomad's RPC and Serf: without them there is no
# cluster, so a peer test that did not knock on them proves nothing.
ESSENTIAL_PEER_PORTS = {8300, 8301, 4647, 4648}

# The role's defaults: what a VM gets where the inventory says nothing.
DEFAULTS = yaml.safe_load(
    (Path(__file__).parents[2] / "roles/firewall/defaults/main.yml").read_text()
)


def _setting(hostvars: dict[str, Any], name: str) -> Any:
    return hostvars.get(name, DEFAULTS[name])


@pytest.fixture(scope="module")
def listeners(vms: dict[str, Any], hostvars: dict[str, dict[str, Any]]) -> dict[str, set[Socket]]:
    """VM name -> what it listens on beyond loopback."""
    return {
        name: listening(vm, hostvars[name]["ansible_host"], hostvars[name]["imgcloud_vip"])
        for name, vm in vms.items()
    }


def _ports(sockets: Iterable[Socket]) -> set[int]:
    return {port for _, port in sockets}


def test_the_rules_are_loaded_and_kept_at_boot(vm: Any) -> None:
    unit = vm.service("imgcloud-firewall")
    assert unit.is_enabled
    assert unit.is_running, "imgcloud-firewall has not loaded the rules"
    table = vm.check_output("nft list chain inet imgcloud input")
    assert "policy drop" in table, table


def test_the_bastion_reaches_ssh_and_nothing_else(
    bastion: Any, listeners: dict[str, set[Socket]]
) -> None:
    targets = sorted(s for sockets in listeners.values() for s in sockets)
    # Enough to mean something: SSH, Consul, Nomad, HAProxy and a task on each VM.
    assert len(targets) >= 5 * len(listeners), f"few listeners found: {targets}"
    verdicts = knock_from(bastion, targets)
    ssh = {s: v for s, v in verdicts.items() if s[1] == 22}
    rest = {s: v for s, v in verdicts.items() if s[1] != 22}
    assert len(ssh) == len(listeners), f"not every VM listens on 22: {sorted(ssh)}"
    assert not opened(ssh, want_open=True), "the bastion cannot reach SSH"
    assert not opened(rest, want_open=False), "open to the bastion"


def test_users_reach_the_floating_ip(bastion: Any, hostvars: dict[str, dict[str, Any]]) -> None:
    vip = next(iter(hostvars.values()))["imgcloud_vip"]
    assert not opened(knock_from(bastion, [(vip, 80), (vip, 443)]), want_open=True)
    # The bastion holds no copy of the cluster CA: the certificate is checked by the
    # security lane's clients (tests/security/test_https.py); here, that HTTPS answers.
    answer = bastion.check_output(
        "python3 -c %s https://%s/healthz",
        "import ssl, sys, urllib.request; "
        "print(urllib.request.urlopen(sys.argv[1], timeout=5, "
        "context=ssl._create_unverified_context()).status)",
        vip,
    )
    assert answer == "200", f"the floating IP answered {answer} to a user"


def test_peers_reach_each_others_cluster_ports(
    vms: dict[str, Any],
    listeners: dict[str, set[Socket]],
    hostvars: dict[str, dict[str, Any]],
    task_ports: dict[str, set[int]],
) -> None:
    failures: list[str] = []
    checked: set[int] = set()
    for name, vm in vms.items():
        allowed = set(_setting(hostvars[name], "firewall_cluster_tcp_ports"))
        targets = sorted(
            s
            for peer, sockets in listeners.items()
            if peer != name
            for s in sockets
            if s[1] in allowed or s[1] in task_ports[peer]
        )
        checked |= _ports(targets)
        failures += [f"{name} -> {t}" for t in opened(knock_from(vm, targets), want_open=True)]
    assert checked >= ESSENTIAL_PEER_PORTS, f"checked only {sorted(checked)}"
    assert any(task_ports.values()) and all(ports <= checked for ports in task_ports.values()), (
        f"no task port checked: {task_ports}"
    )
    assert not failures, "a peer is shut out"


@pytest.fixture(scope="module")
def task_ports(vms: dict[str, Any]) -> dict[str, set[int]]:
    """VM name -> the host ports Docker publishes for the tasks Nomad runs there."""
    found: dict[str, set[int]] = {}
    for name, vm in vms.items():
        lines = vm.check_output("docker ps --format '{{.Ports}}'").splitlines()
        found[name] = {
            int(mapping.split("->")[0].rpartition(":")[2])
            for line in lines
            for mapping in line.split(", ")
            if "->" in mapping and "." in mapping.split("->")[0]
        }
    return found


def test_this_machine_reaches_the_operator_ports_only(
    listeners: dict[str, set[Socket]],
    hostvars: dict[str, dict[str, Any]],
    task_ports: dict[str, set[int]],
) -> None:
    """With operator sources named, the tests run from one of them (the lab's
    controller is its gateway): Nomad's API, the stats pages and the tasks' ports
    answer, nothing else. With none named, nothing but SSH answers this machine."""
    chosen = hostvars[next(iter(listeners))]
    operator = bool(_setting(chosen, "firewall_operator_sources"))
    allowed = set(_setting(chosen, "firewall_operator_tcp_ports")) if operator else set()
    tasks = set().union(*task_ports.values()) if operator else set()
    targets = sorted(s for sockets in listeners.values() for s in sockets if s[1] != 22)
    verdicts = knock_here(targets)
    want_open = {s: v for s, v in verdicts.items() if s[1] in allowed or s[1] in tasks}
    want_shut = {s: v for s, v in verdicts.items() if s not in want_open}
    assert want_shut, f"nothing to tell apart: {targets}"
    assert not operator or _ports(want_open) >= {4646}, f"no Nomad API found: {targets}"
    assert not opened(want_open, want_open=True), "the operator is shut out"
    assert not opened(want_shut, want_open=False), "open to the operator beyond its ports"


def test_ssh_sources_name_the_bastion(vm: Any) -> None:
    """The set the rules let SSH in from is not empty (else the next run locks itself out)."""
    elements = vm.check_output("nft list set inet imgcloud ssh_sources")
    assert "elements" in elements, elements
