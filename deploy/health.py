"""Is the cluster up? One Ansible ad-hoc round over group `cluster`.

Each VM's Consul and Nomad agents must know a leader and count every VM among
the Raft peers. Used by the test fixtures to deploy only when needed.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from deploy.ansible import environment, group_hosts, inventory_list, tool
from deploy.credentials import CONSUL_API, NOMAD_API, VM_CA_FILE

# One line of JSON per endpoint; a dead agent prints null. The status endpoints
# answer without a token, over TLS only: curl checks them against the cluster CA.
_PROBE = " ; ".join(
    f"printf '%s\\n' \"$(curl -sf --max-time 3 --cacert {VM_CA_FILE} {api}/v1/status/{what}"
    ' || echo null)"'
    for api in (CONSUL_API, NOMAD_API)
    for what in ("leader", "peers")
)


def _probe(inventory: Path) -> dict[str, dict[str, object]]:
    """Host name -> Ansible's result of running _PROBE there."""
    with tempfile.TemporaryDirectory() as tree:
        env = environment()
        env.update(
            ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
            ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.tree",
            ANSIBLE_CALLBACK_TREE_DIR=tree,
        )
        subprocess.run(
            [tool("ansible"), "cluster", "-i", str(inventory), "-m", "ansible.builtin.shell",
             "-a", _PROBE, "--timeout", "20"],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        return {p.name: json.loads(p.read_text()) for p in Path(tree).iterdir()}


def _agent_problems(host: str, name: str, leader: object, peers: object, size: int) -> list[str]:
    if not leader:
        return [f"{host}: {name} knows no leader"]
    if not isinstance(peers, list) or len(peers) != size:
        return [f"{host}: {name} has {peers!r} as Raft peers, expected {size}"]
    return []


def cluster_problems(inventory: Path) -> list[str]:
    """What is wrong with the cluster of this inventory; empty when it is up."""
    hosts = group_hosts(inventory_list(inventory), "cluster")
    results = _probe(inventory)
    problems: list[str] = []
    for host in hosts:
        result = results.get(host)
        if result is None or result.get("unreachable") or result.get("rc") != 0:
            message = (result or {}).get("msg") or "no answer"
            problems.append(f"{host}: unreachable or failing ({message})")
            continue
        lines = [json.loads(line) for line in str(result["stdout"]).splitlines()]
        consul_leader, consul_peers, nomad_leader, nomad_peers = lines
        problems += _agent_problems(host, "consul", consul_leader, consul_peers, len(hosts))
        problems += _agent_problems(host, "nomad", nomad_leader, nomad_peers, len(hosts))
    return problems
