"""Each VM runs a Consul server and a Nomad server+client the way the roles set them up."""

from __future__ import annotations

from typing import Any

import consul_dns
import pytest
from agents import AGENTS, CONSUL, NOMAD, Agent

pytestmark = pytest.mark.lab

# Consul gossips and serves RPC on the private address, answers HTTPS there too (the
# other VMs' Prometheus) and on loopback, DNS on loopback only; Nomad serves RPC and
# gossip on the private address, its HTTPS API there and on loopback (the `nomad`
# CLI on the VM).
SOCKETS = [
    (CONSUL, "tcp://{address}:8300"),
    (CONSUL, "tcp://{address}:8301"),
    (CONSUL, "udp://{address}:8301"),
    (CONSUL, "tcp://127.0.0.1:8501"),
    (CONSUL, "tcp://{address}:8501"),
    (CONSUL, "udp://127.0.0.1:8600"),
    (CONSUL, "tcp://127.0.0.1:8600"),
    (NOMAD, "tcp://127.0.0.1:4646"),
    (NOMAD, "tcp://{address}:4646"),
    (NOMAD, "tcp://{address}:4647"),
    (NOMAD, "tcp://{address}:4648"),
    (NOMAD, "udp://{address}:4648"),
]

# Plain HTTP is gone: Consul's HTTP port is closed on every address (issue #8).
CLOSED = ["tcp://127.0.0.1:8500", "tcp://0.0.0.0:8500", "tcp://{address}:8500"]

VALIDATE = {
    CONSUL: "consul validate /etc/consul.d",
    NOMAD: "nomad config validate /etc/nomad.d",
}


@pytest.fixture(scope="session")
def private_address(vm: Any) -> str:
    """The VM's address on the private network, as Consul advertises it."""
    return str(CONSUL.get(vm, "/v1/agent/self")["Member"]["Addr"])


@pytest.mark.parametrize("agent", AGENTS, ids=str)
def test_agent_runs_and_starts_at_boot(vm: Any, agent: Agent) -> None:
    service = vm.service(agent.name)
    assert service.is_running
    assert service.is_enabled


@pytest.mark.parametrize("agent", AGENTS, ids=str)
def test_unit_restarts_a_dead_agent_within_seconds(vm: Any, agent: Agent) -> None:
    show = vm.check_output(f"systemctl show {agent.name} -p Restart -p RestartUSec")
    settings = dict(line.split("=", 1) for line in show.splitlines())
    assert settings["Restart"] == "always"
    assert settings["RestartUSec"] in {"1s", "2s"}


@pytest.mark.parametrize(("agent", "spec"), SOCKETS, ids=lambda v: str(v))
def test_port_listens(vm: Any, private_address: str, agent: Agent, spec: str) -> None:
    assert vm.socket(spec.format(address=private_address)).is_listening


def _listeners(vm: Any, process: str) -> list[str]:
    """Local addresses (host:port) of the TCP and UDP sockets `process` listens on."""
    out = vm.check_output("ss -Hlntup")
    return [line.split()[4] for line in out.splitlines() if f'(("{process}",' in line]


@pytest.mark.parametrize("agent", AGENTS, ids=str)
def test_agent_listens_on_loopback_and_the_private_address_only(
    vm: Any, private_address: str, agent: Agent
) -> None:
    """Nothing on a wildcard address: not on a public interface, not on the containers'
    bridges (a task could reach the API from inside its container)."""
    listeners = _listeners(vm, agent.name)
    assert len(listeners) >= 3, f"{agent} listens on too little to be itself: {listeners}"
    elsewhere = [a for a in listeners if a.rsplit(":", 1)[0] not in ("127.0.0.1", private_address)]
    assert not elsewhere, f"{agent} listens beyond loopback and {private_address}: {elsewhere}"


@pytest.mark.parametrize("spec", CLOSED)
def test_consul_plain_http_port_is_closed(vm: Any, private_address: str, spec: str) -> None:
    assert not vm.socket(spec.format(address=private_address)).is_listening


@pytest.mark.parametrize("agent", AGENTS, ids=str)
def test_config_is_valid(vm: Any, agent: Agent) -> None:
    vm.run_expect([0], VALIDATE[agent])


def test_consul_gossip_is_encrypted_with_one_key(vm: Any, cluster_names: list[str]) -> None:
    assert CONSUL.get(vm, "/v1/agent/self")["Stats"]["serf_lan"]["encrypted"] == "true"
    lan = [ring for ring in CONSUL.get(vm, "/v1/operator/keyring") if not ring["WAN"]]
    assert [ring["Keys"] for ring in lan] == [{key: len(cluster_names)} for key in lan[0]["Keys"]]


def test_nomad_gossip_is_encrypted_with_one_key(vm: Any, cluster_names: list[str]) -> None:
    assert NOMAD.get(vm, "/v1/agent/self")["stats"]["serf"]["encrypted"] == "true"
    keys = NOMAD.get(vm, "/v1/agent/keyring/list")["Keys"]
    assert list(keys.values()) == [len(cluster_names)]


def test_consul_answers_dns_on_8600_without_a_token(vm: Any, vm_name: str) -> None:
    # DNS carries no token: the anonymous policy lets it read nodes and the imgcloud-*
    # services (the lookups HAProxy's resolvers make on 127.0.0.1:8600); each VM's
    # node record is there even before the service is deployed.
    assert consul_dns.lookup(vm, f"{vm_name}.node.consul", consul_dns.A) == (1, 0)
