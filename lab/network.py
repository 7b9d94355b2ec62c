"""The lab's private network: one Docker bridge with a fixed /24."""

from __future__ import annotations

from lab.engine import LabError, docker
from lab.machines import LABEL
from lab.topology import Topology


def _subnet_of(network: str) -> str | None:
    out = docker(
        "network",
        "inspect",
        "--format",
        "{{range .IPAM.Config}}{{.Subnet}}{{end}}",
        network,
        check=False,
    )
    return out or None


def ensure_network(topo: Topology) -> str:
    """Create the network unless it exists with the right subnet."""
    current = _subnet_of(topo.network)
    if current == str(topo.subnet):
        return "kept"
    if current is not None:
        raise LabError(
            f"network {topo.network} exists with subnet {current}, not {topo.subnet}: "
            f"run `python -m lab down --name {topo.name}` first"
        )
    docker(
        "network", "create", "--driver", "bridge",
        "--subnet", str(topo.subnet), "--gateway", topo.gateway, "--ip-range", topo.ip_range,
        "--label", f"{LABEL}={topo.name}", topo.network,
    )  # fmt: skip
    return "created"
