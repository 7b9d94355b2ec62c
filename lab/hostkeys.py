"""The lab's SSH host keys, pinned: read from each machine through Docker, not over SSH.

Every machine makes its own host keys at first boot (lab-init, the bastion's start
script) and keeps them across restarts; a machine made again gets new ones. So after
the machines are running, `up` reads each one's public keys with `docker exec` (the
engine is the trusted channel a cloud's console would be) and writes them to
`.lab/<name>/known_hosts`; the inventory and ssh_config check every connection,
bastion and VMs alike, against that file (`StrictHostKeyChecking yes`). A key that
changes without `up` is refused, as on real VMs.
"""

from __future__ import annotations

import time

from lab.engine import LabError, docker
from lab.state import LabState, write_private
from lab.topology import Node

KEY_TYPES = ("ed25519", "ecdsa")  # what sshd-lab.conf and sshd-bastion.conf serve


def read(node: Node, deadline_s: float = 90.0) -> list[str]:
    """The machine's public host keys (`type base64` each), once it has made them."""
    paths = " ".join(f"/etc/ssh/ssh_host_{kind}_key.pub" for kind in KEY_TYPES)
    end = time.monotonic() + deadline_s
    while True:
        try:
            text = docker("exec", node.container, "sh", "-c", f"cat {paths}", timeout=30)
        except LabError:
            text = ""  # still booting: the keys are made early in its boot
        keys = [" ".join(line.split()[:2]) for line in text.splitlines() if line.strip()]
        if len(keys) == len(KEY_TYPES):
            return keys
        if time.monotonic() > end:
            raise LabError(
                f"{node.container} has no SSH host keys after {deadline_s:.0f} s "
                f"(see `docker logs {node.container}`)"
            )
        time.sleep(1)


def known_hosts(entries: dict[str, list[str]]) -> str:
    """known_hosts text: every key of every address."""
    return "".join(f"{address} {key}\n" for address, keys in entries.items() for key in keys)


def pin(state: LabState) -> None:
    """Write the known_hosts of the bastion and every VM, keyed by their addresses."""
    topo = state.topology
    nodes = [topo.bastion, *topo.nodes]
    write_private(state.known_hosts, known_hosts({n.address: read(n) for n in nodes}))
