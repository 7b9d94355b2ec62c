"""Names and addresses of one lab: who sits where on its private /24.

Every address is fixed by the subnet: the gateway (the controller, seen from the
lab) is .1, the bastion .2, the provider .3, vmN .10+N, and the floating IP
.250. Docker's dynamic `--ip-range` is .128/26, away from all of them, so a
container attached later can never take the floating IP.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path

from lab.engine import LabError

DEFAULT_NAME = "imgcloud"
MAX_VMS = 50
_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,29}$")
REPO_ROOT = Path(__file__).resolve().parent.parent


def lab_name(given: str | None) -> str:
    name = given or os.environ.get("IMGCLOUD_LAB_NAME") or DEFAULT_NAME
    if not _NAME_RE.match(name):
        raise LabError(
            f"lab name {name!r} is not valid: use a lowercase letter, then up to 29 "
            "lowercase letters, digits or dashes"
        )
    return name


def state_dir(name: str) -> Path:
    """`<repo>/.lab/<name>/`, or under IMGCLOUD_LAB_STATE_ROOT when set."""
    root = os.environ.get("IMGCLOUD_LAB_STATE_ROOT")
    return (Path(root) if root else REPO_ROOT / ".lab").resolve() / name


def lock_path(name: str) -> Path:
    """Held during `up` and `down`; beside the state folder, which `down` removes."""
    return state_dir(name).parent / f".{name}.lock"


@dataclass(frozen=True)
class Node:
    name: str  # vm1, bastion, provider
    container: str
    address: str


@dataclass(frozen=True)
class Topology:
    name: str
    subnet: ipaddress.IPv4Network
    vms: int

    def __post_init__(self) -> None:
        if not 1 <= self.vms <= MAX_VMS:
            raise LabError(f"--vms must be between 1 and {MAX_VMS}, not {self.vms}")
        if self.subnet.prefixlen != 24:
            raise LabError(f"the lab subnet must be a /24, not {self.subnet}")

    def _host(self, index: int) -> str:
        return str(self.subnet.network_address + index)

    @property
    def network(self) -> str:
        return f"{self.name}-net"

    @property
    def gateway(self) -> str:
        return self._host(1)

    @property
    def ip_range(self) -> str:
        return str(ipaddress.ip_network(f"{self._host(128)}/26"))

    @property
    def vip(self) -> str:
        return self._host(250)

    @property
    def bastion(self) -> Node:
        return Node("bastion", f"{self.name}-bastion", self._host(2))

    @property
    def provider(self) -> Node:
        return Node("provider", f"{self.name}-provider", self._host(3))

    @property
    def nodes(self) -> list[Node]:
        return [
            Node(f"vm{i}", f"{self.name}-vm{i}", self._host(10 + i)) for i in range(1, self.vms + 1)
        ]

    def volume(self, node: Node) -> str:
        return f"{node.container}-docker"
