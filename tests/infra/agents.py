"""Talking to the Consul and Nomad agents of a VM through testinfra.

Every call runs `curl` against the agent's HTTPS API on the VM's loopback, over
the SSH connection testinfra keeps open (through the bastion). curl checks the
agent's certificate against the VM's copy of the cluster CA and sends the
management token the session found on the controller (`authorise`, called by the
lane's `vms` fixture); the status endpoints need none.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from deploy.credentials import CONSUL_API, NOMAD_API, VM_CA_FILE, Credentials

T = TypeVar("T")

# Agent name -> management token, for the session's cluster.
_TOKENS: dict[str, str] = {}


def authorise(credentials: Credentials) -> None:
    """Call the agents with this cluster's management tokens from now on."""
    _TOKENS.update(consul=credentials.consul_token, nomad=credentials.nomad_token)


@dataclass(frozen=True)
class Agent:
    name: str  # also its systemd unit and its binary
    api: str  # https://127.0.0.1:<port>, as the VM itself reaches it
    token_header: str
    config: str  # the folder `validate` checks

    def __str__(self) -> str:
        return self.name

    def curl(self, path: str, timeout: float = 5, token: bool = True) -> str:
        """The curl command line on the VM for a GET of `path`, with the token."""
        header = f" -H '{self.token_header}: {_TOKENS[self.name]}'" if token else ""
        return f"curl -sf --max-time {timeout:g} --cacert {VM_CA_FILE}{header} '{self.api}{path}'"

    def get(self, host: Any, path: str) -> Any:
        """GET the agent's API on the VM; raises if the agent does not answer."""
        return json.loads(host.check_output(self.curl(path)))

    def leader(self, host: Any) -> str | None:
        """The leader's RPC address this agent knows of, None when none (or no answer).

        `stale` makes a Nomad follower answer from its own Raft state instead of
        forwarding the question to the leader it knew (which may be gone).
        """
        cmd = host.run(self.curl("/v1/status/leader?stale", timeout=2, token=False))
        if cmd.rc != 0:
            return None
        return json.loads(cmd.stdout) or None

    def raft_servers(self, host: Any) -> list[dict[str, Any]]:
        """The Raft configuration: ID, Node, Address, Leader, Voter of every server."""
        return list(self.get(host, "/v1/operator/raft/configuration")["Servers"])

    def node_name(self, member: dict[str, Any]) -> str:
        """Inventory name of a Raft server or gossip member (Nomad appends `.<region>`)."""
        return str(member.get("Node") or member["Name"]).split(".")[0]


CONSUL = Agent("consul", CONSUL_API, "X-Consul-Token", "/etc/consul.d")
NOMAD = Agent("nomad", NOMAD_API, "X-Nomad-Token", "/etc/nomad.d")
AGENTS = [CONSUL, NOMAD]


def wait_for(check: Callable[[], T | None], timeout: float, what: str, interval: float = 0.5) -> T:
    """Call `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def leader_name(vms: dict[str, Any], agent: Agent) -> str | None:
    """The VM every reachable server agrees leads, or None."""
    for host in vms.values():
        try:
            servers = agent.raft_servers(host)
        except AssertionError:
            continue
        leaders = [agent.node_name(s) for s in servers if s["Leader"]]
        if len(leaders) == 1:
            return leaders[0]
    return None


def cluster_healthy(vms: dict[str, Any], agent: Agent) -> bool:
    """Every VM's agent answers and names the same leader; every server a voter."""
    leaders = {agent.leader(host) for host in vms.values()}
    if len(leaders) != 1 or None in leaders:
        return False
    try:
        servers = agent.raft_servers(next(iter(vms.values())))
    except AssertionError:  # the agent went away between the two questions
        return False
    return sorted(agent.node_name(s) for s in servers if s["Voter"]) == sorted(vms)
