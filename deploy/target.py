"""Which inventory: the one given, or the lab's (brought up first); and what the
traffic tools read about the cluster it names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy import ROOT, DeployError
from deploy.ansible import group_hosts, inventory_list


def given_inventory(path: str) -> Path:
    inventory = Path(path).expanduser().resolve()
    if not inventory.exists():
        raise DeployError(f"inventory {inventory} does not exist")
    return inventory


def lab_inventory() -> Path:
    """Bring the lab up (idempotent: quick when it already runs) and return its inventory."""
    from lab.__main__ import main as lab_main
    from lab.topology import lab_name, state_dir

    if lab_main(["up"]) != 0:
        raise DeployError("`python -m lab up` failed (see above)")
    inventory = state_dir(lab_name(None)) / "inventory.yml"
    if not inventory.is_file():
        raise DeployError(f"the lab is up but wrote no inventory at {inventory}")
    return inventory


# What the traffic tools (the chaos suite, the load bench) read about the cluster they
# aim at: the lab's status document, or an inventory's group `cluster`. Each builds its
# own view from it (chaos needs SSH, Toxiproxy and credentials; the bench a URL and the
# VMs); the reading, and its errors, are shared.


class TargetError(DeployError):
    """The cluster to aim at cannot be found or described; the message says what to give."""


def lab_status(name: str | None = None, timeout: float = 120.0) -> dict[str, Any]:
    """`python -m lab status --json` of the lab `name` (default: IMGCLOUD_LAB_NAME, imgcloud)."""
    env = dict(os.environ, **({"IMGCLOUD_LAB_NAME": name} if name else {}))
    command = [sys.executable, "-m", "lab", "status", "--json"]
    try:
        done = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise TargetError(
            f"`python -m lab status --json` did not answer in {timeout:.0f} s"
        ) from exc
    if done.returncode != 0:
        said = (done.stderr.strip() or done.stdout.strip())[-400:]
        raise TargetError(
            "no cluster to aim at: give --inventory (or a URL), or bring the lab up with "
            f"`tox -e deploy`; `python -m lab status --json` said: {said}"
        )
    try:
        return json.loads(done.stdout)
    except ValueError as exc:
        raise TargetError(f"`python -m lab status --json` printed no JSON: {exc}") from exc


@dataclass(frozen=True)
class ClusterHosts:
    """The hosts of an inventory's group `cluster`, with their variables as Ansible
    resolves them (group_vars and Vault files included)."""

    path: Path
    names: tuple[str, ...]
    hostvars: dict[str, dict[str, Any]]

    @property
    def first(self) -> dict[str, Any]:
        """The first host's variables: where the cluster-wide ones (imgcloud_vip) are read."""
        return self.hostvars.get(self.names[0], {})

    @property
    def vip(self) -> str:
        return str(self.first["imgcloud_vip"])

    def address(self, name: str) -> str:
        return str(self.hostvars.get(name, {}).get("ansible_host", name))


def cluster_hosts(path: Path) -> ClusterHosts:
    """Read `path`'s group `cluster`; refuse an inventory with no hosts or no floating IP."""
    if not path.exists():
        raise TargetError(f"inventory {path} does not exist")
    try:
        listing = inventory_list(path)
    except DeployError as exc:
        raise TargetError(str(exc)) from exc
    names = tuple(group_hosts(listing, "cluster"))
    if not names:
        raise TargetError(
            f"inventory {path} has no hosts in group `cluster` (nor so their imgcloud_vip)"
        )
    hosts = ClusterHosts(path, names, listing.get("_meta", {}).get("hostvars", {}))
    if not hosts.first.get("imgcloud_vip"):
        raise TargetError(f"inventory {path} does not set imgcloud_vip for the group `cluster`")
    return hosts
