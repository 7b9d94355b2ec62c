"""What the load goes to: an explicit URL, an inventory's floating IP, or the lab's.

The order is the one every imgcloud lane uses: what the operator names wins, the lab is
the default. Load only ever goes to the address found here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from deploy import DeployError
from deploy.ansible import group_hosts, inventory_list

REPO = Path(__file__).resolve().parent.parent


class TargetError(RuntimeError):
    """The target could not be found; the message says what to give instead."""


@dataclass(frozen=True)
class Node:
    """One VM of the cluster: its inventory name, private address, lab container if any."""

    name: str
    address: str
    container: str | None = None


@dataclass(frozen=True)
class Target:
    """Where to send load, what it runs on, and how we know."""

    url: str
    source: str  # "url", "inventory <path>" or "lab <name>"
    nodes: tuple[Node, ...] = field(default=())
    lab: bool = False
    inventory: Path | None = None  # where the cluster's API credentials come from

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def on_this_host(self) -> bool:
        """A bare URL on loopback: the service (e.g. `imgcloud dev`) runs on this machine."""
        return not self.nodes and self.host in ("127.0.0.1", "localhost", "::1")


def normalise_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetError(f"{url!r} is not an http(s) URL such as http://10.77.0.100/")
    return url if url.endswith("/") else url + "/"


def resolve(url: str | None = None, inventory: str | None = None) -> Target:
    """The target from `url`, else `inventory`, else IMGCLOUD_LOAD_URL, else the lab.

    With both, the load goes to `url` (e.g. a tunnel to the floating IP) and the
    inventory still names the VMs.
    """
    if inventory:
        found = from_inventory(Path(inventory))
        if url:
            return replace(found, url=normalise_url(url), source=f"{found.source} via {url}")
        return found
    if url:
        return Target(normalise_url(url), "url")
    if os.environ.get("IMGCLOUD_LOAD_URL"):
        return Target(normalise_url(os.environ["IMGCLOUD_LOAD_URL"]), "IMGCLOUD_LOAD_URL")
    return from_lab()


def lab_status() -> dict[str, Any]:
    """`python -m lab status --json` of the lab named by IMGCLOUD_LAB_NAME (default imgcloud)."""
    command = [sys.executable, "-m", "lab", "status", "--json"]
    try:
        done = subprocess.run(
            command, cwd=REPO, capture_output=True, text=True, timeout=60, check=False
        )
    except subprocess.TimeoutExpired as error:
        raise TargetError("`python -m lab status --json` did not answer in 60 s") from error
    if done.returncode != 0:
        raise TargetError(
            "no target: give --url or --inventory, or bring the lab up (`tox -e deploy`); "
            f"`python -m lab status --json` said: {done.stderr.strip() or done.stdout.strip()}"
        )
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError as error:
        raise TargetError(f"`python -m lab status --json` printed no JSON: {error}") from error


def from_lab() -> Target:
    status = lab_status()
    if not status.get("url"):
        raise TargetError("the lab status has no url: is the service deployed (`tox -e deploy`)?")
    nodes = tuple(
        Node(node["name"], node["address"], node.get("container"))
        for node in status.get("nodes", [])
    )
    name = os.environ.get("IMGCLOUD_LAB_NAME", "imgcloud")
    inventory = Path(status["inventory"]) if status.get("inventory") else None
    return Target(normalise_url(status["url"]), f"lab {name}", nodes, lab=True, inventory=inventory)


def from_inventory(path: Path) -> Target:
    """The floating IP and cluster hosts of an Ansible inventory, as Ansible resolves
    them (a file or a folder with group_vars and Vault files alike)."""
    if not path.exists():
        raise TargetError(f"inventory {path} does not exist")
    try:
        listing = inventory_list(path)
    except DeployError as error:
        raise TargetError(str(error)) from error
    names = group_hosts(listing, "cluster")
    hostvars = listing.get("_meta", {}).get("hostvars", {})
    first = hostvars.get(names[0], {}) if names else {}
    vip = first.get("imgcloud_vip")
    if not vip:
        raise TargetError(f"inventory {path} sets no imgcloud_vip for the hosts of group cluster")
    nodes = tuple(Node(n, str(hostvars.get(n, {}).get("ansible_host", n))) for n in names)
    lab = bool(first.get("imgcloud_lab", False))
    return Target(f"http://{vip}/", f"inventory {path}", nodes, lab=lab, inventory=path)
