"""The worker job on fewer VMs and back, through Nomad's API (deploy.nomad_client).

Nomad answers HTTPS on every VM's private address at 4646, with a certificate of the
cluster CA and ACLs: the bench verifies it with the CA from the inventory's secrets
folder and calls with the deploy token (deploy.credentials), which may read and scale
jobs and nothing else. For real VMs behind a bastion, tunnel it
(`ssh -L 4646:<vm>:4646 bastion`) and give NOMAD_ADDR=https://127.0.0.1:4646 (the
certificate names 127.0.0.1). NOMAD_ADDR, NOMAD_TOKEN and NOMAD_CACERT override, as
they do for the `nomad` command.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy import DeployError
from deploy.credentials import NOMAD_HTTP_PORT, Credentials, for_inventory
from deploy.nomad_client import NomadClient, NomadError
from loadbench.target import Target

__all__ = ["Nomad", "NomadError", "Placement"]


@dataclass(frozen=True)
class Placement:
    """The worker allocations that run now, and on which VMs."""

    running: int
    nodes: tuple[str, ...]
    stopping: int


class Nomad:
    """The bench's questions to Nomad, asked of each known address in turn."""

    def __init__(
        self, addresses: Sequence[str], token: str | None = None, ca_file: Path | None = None
    ) -> None:
        if not addresses:
            raise NomadError("no Nomad address: give NOMAD_ADDR or a target with nodes")
        self.token = os.environ.get("NOMAD_TOKEN") or token or None
        ca = os.environ.get("NOMAD_CACERT") or ca_file
        self.api = NomadClient(addresses, self.token, Path(ca) if ca else None)
        self.addresses = self.api.addresses

    @classmethod
    def for_nodes(cls, node_addresses: Sequence[str], credentials: Credentials | None) -> Nomad:
        """Every VM's API, checked against the cluster CA, called with the deploy token."""
        token = credentials.nomad_deploy_token if credentials else None
        ca_file = credentials.ca_file if credentials else None
        if os.environ.get("NOMAD_ADDR"):
            return cls([os.environ["NOMAD_ADDR"].rstrip("/")], token, ca_file)
        addresses = [f"https://{address}:{NOMAD_HTTP_PORT}" for address in node_addresses]
        return cls(addresses, token, ca_file)

    @classmethod
    def for_target(cls, target: Target) -> Nomad:
        """The target's Nomad, with the credentials of its inventory (lab or given)."""
        credentials = None
        if target.inventory is not None:
            try:
                credentials = for_inventory(target.inventory)
            except DeployError as error:
                if not (os.environ.get("NOMAD_TOKEN") and os.environ.get("NOMAD_CACERT")):
                    raise NomadError(f"{error} (or give NOMAD_TOKEN and NOMAD_CACERT)") from error
        return cls.for_nodes([node.address for node in target.nodes], credentials)

    def job(self, job_id: str) -> dict[str, Any]:
        return self.api.job(job_id)

    def group_count(self, job_id: str, group: str) -> int:
        for task_group in self.job(job_id)["TaskGroups"]:
            if task_group["Name"] == group:
                return int(task_group["Count"])
        raise NomadError(f"job {job_id} has no group {group!r}")

    def scale(self, job_id: str, group: str, count: int, message: str) -> None:
        self.api.scale(job_id, group, count, message)

    def ensure_count(
        self, job_id: str, group: str, count: int, message: str, timeout_s: float = 120.0
    ) -> None:
        """Scale the group to `count` unless it is already, retrying while Nomad has no leader."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if self.group_count(job_id, group) != count:
                    self.scale(job_id, group, count, message)
                return
            except NomadError as error:
                if time.monotonic() > deadline:
                    raise
                print(f"  nomad: {error}; retrying")
                time.sleep(2)

    def placement(self, job_id: str, group: str) -> Placement:
        allocations = self.api.allocations(job_id)
        mine = [a for a in allocations if a["TaskGroup"] == group]
        running = [
            a for a in mine if a["ClientStatus"] == "running" and a["DesiredStatus"] == "run"
        ]
        stopping = [
            a for a in mine if a["ClientStatus"] == "running" and a["DesiredStatus"] != "run"
        ]
        nodes = tuple(sorted(a["NodeName"] for a in running if _healthy_or_no_deployment(a)))
        return Placement(len(nodes), nodes, len(stopping))

    def deployment_status(self, job_id: str) -> str | None:
        """Status of the deployment of the job's current version, None when it has none."""
        version = self.job(job_id)["Version"]
        latest = self.api.deployment(job_id)
        if not latest or latest.get("JobVersion") != version:
            return None
        return str(latest["Status"])

    def wait_running(self, job_id: str, group: str, count: int, timeout_s: float) -> Placement:
        """Wait until exactly `count` healthy allocations run and none is still stopping."""
        deadline = time.monotonic() + timeout_s
        seen = Placement(0, (), 0)
        while time.monotonic() < deadline:
            try:
                seen = self.placement(job_id, group)
                status = self.deployment_status(job_id)
            except NomadError as error:
                # A leader election or a VM restarting: ask again until the deadline.
                print(f"  nomad: {error}; retrying")
                time.sleep(2)
                continue
            if status in ("failed", "cancelled"):
                raise NomadError(f"{job_id}: deployment {status} while scaling to {count}")
            settled = status in (None, "successful")
            if seen.running == count and seen.stopping == 0 and settled:
                return seen
            time.sleep(2)
        raise NomadError(
            f"{job_id}: {seen.running} healthy {group} allocations on {list(seen.nodes)} "
            f"({seen.stopping} stopping) after {timeout_s:.0f} s, wanted {count}"
        )


def _healthy_or_no_deployment(allocation: dict[str, Any]) -> bool:
    """Healthy by its deployment's checks; an allocation outside any deployment counts."""
    if not allocation.get("DeploymentID"):
        return True
    return (allocation.get("DeploymentStatus") or {}).get("Healthy") is True
