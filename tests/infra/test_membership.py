"""Every VM is a member of one Consul and one Nomad cluster, with one leader."""

from __future__ import annotations

from typing import Any

import pytest
from agents import AGENTS, CONSUL, NOMAD, Agent

pytestmark = pytest.mark.lab


def test_consul_members_are_every_vm_alive(vm: Any, cluster_names: list[str]) -> None:
    # Serf status 1 is "alive" (`consul members` prints the same list).
    members = {m["Name"]: m["Status"] for m in CONSUL.get(vm, "/v1/agent/members")}
    assert members == dict.fromkeys(cluster_names, 1)


def test_nomad_server_members_are_every_vm_alive(vm: Any, cluster_names: list[str]) -> None:
    # What `nomad server members` prints, from the agent's API.
    members = NOMAD.get(vm, "/v1/agent/members")["Members"]
    status = {NOMAD.node_name(m): m["Status"] for m in members}
    assert status == dict.fromkeys(cluster_names, "alive")


@pytest.mark.parametrize("agent", AGENTS, ids=str)
def test_every_server_is_a_voter_under_one_leader(
    vm: Any, cluster_names: list[str], agent: Agent
) -> None:
    # `consul operator raft list-peers` / `nomad operator raft list-peers`.
    servers = agent.raft_servers(vm)
    assert sorted(agent.node_name(s) for s in servers) == sorted(cluster_names)
    assert all(s["Voter"] for s in servers)
    assert sum(1 for s in servers if s["Leader"]) == 1


@pytest.mark.parametrize("agent", AGENTS, ids=str)
def test_autopilot_never_prunes_a_server_below_the_cluster_size(
    vm: Any, cluster_names: list[str], agent: Agent
) -> None:
    # A server cut off for longer than Serf's failure detection would otherwise be
    # removed from Raft and have to rejoin as a non-voter (docs/cluster.md,
    # "Autopilot"); a dead one still goes when its replacement joins.
    settings = agent.get(vm, "/v1/operator/autopilot/configuration")
    assert settings["MinQuorum"] == len(cluster_names)
    assert settings["CleanupDeadServers"] is True


@pytest.mark.parametrize("agent", AGENTS, ids=str)
def test_every_vm_names_the_same_leader(vms: dict[str, Any], agent: Agent) -> None:
    leaders = {name: agent.leader(host) for name, host in vms.items()}
    assert len(set(leaders.values())) == 1, leaders
    assert None not in leaders.values()


def test_nomad_client_is_ready_with_a_healthy_docker_driver(vm: Any, vm_name: str) -> None:
    node_id = NOMAD.get(vm, "/v1/agent/self")["stats"]["client"]["node_id"]
    node = NOMAD.get(vm, f"/v1/node/{node_id}")
    assert node["Name"] == vm_name
    assert node["Status"] == "ready"
    assert node["SchedulingEligibility"] == "eligible"
    docker = node["Drivers"]["docker"]
    assert docker["Detected"] and docker["Healthy"], docker["HealthDescription"]


def test_nomad_node_status_lists_every_vm_ready(vms: dict[str, Any]) -> None:
    # `nomad node status`, from any VM.
    # Nodes of VMs that were replaced may linger as "down"; every VM has a ready one.
    nodes = NOMAD.get(next(iter(vms.values())), "/v1/nodes")
    assert {n["Name"] for n in nodes if n["Status"] == "ready"} == set(vms)
