"""Nomad's HTTP API for the controller's tools, through python-nomad.

The chaos suite's release faults and the load bench's scaling run ask Nomad about
jobs, deployments and allocations, register a job and scale a group. They call the
API from the controller with the deploy token (submit, read and scale jobs only;
deploy.credentials), verifying Nomad's certificate against the cluster CA.

Nomad answers HTTPS on every VM's private address at 4646 (its certificate names
that address and 127.0.0.1). The lab's VMs are reachable from the controller; real
VMs behind a bastion are reached through an SSH forward (chaos.remote opens one per
VM; for the bench, `ssh -L 4646:<vm>:4646 bastion` and NOMAD_ADDR).

The addresses are tried in turn: a VM that is down, or a server without a leader
for the moment (a 5xx), sends the call to the next; a refusal (4xx) ends it.
python-nomad has no call for a job's `scale` endpoint: it goes through the
library's own requester (`job.request`), with the same session and token.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import nomad
import requests
from nomad.api import exceptions

T = TypeVar("T")
TIMEOUT_S = 10


class NomadError(RuntimeError):
    """Nomad refused or did not answer; the message says which call, where and why."""


def _why(error: exceptions.BaseNomadException) -> tuple[int | None, str]:
    """The HTTP status (None when nothing answered) and a short reason."""
    answer = error.nomad_resp
    if isinstance(answer, requests.Response):
        return answer.status_code, f"HTTP {answer.status_code}: {answer.text.strip()[:300]}"
    return None, f"{type(answer).__name__}: {answer}"[:500]


class NomadClient:
    """One python-nomad client per address (`https://host:port`), tried in turn."""

    def __init__(self, addresses: Sequence[str], token: str | None, ca_file: Path | None) -> None:
        if not addresses:
            raise NomadError("no Nomad address to ask")
        if ca_file is not None and not Path(ca_file).is_file():
            raise NomadError(f"cannot read the cluster CA {ca_file}")
        self.addresses = [a.rstrip("/") for a in addresses]
        # verify: the CA bundle's path (requests' `verify`), so only the cluster's
        # certificates are trusted; the system's trust store when none is given.
        verify: Any = str(ca_file) if ca_file is not None else True
        self._clients = [
            nomad.Nomad(address=a, token=token, verify=verify, timeout=TIMEOUT_S)
            for a in self.addresses
        ]

    def _ask(self, what: str, call: Callable[[nomad.Nomad], T]) -> T:
        errors = []
        for address, client in zip(self.addresses, self._clients, strict=True):
            try:
                return call(client)
            except exceptions.BaseNomadException as error:
                status, why = _why(error)
                if status is not None and status < 500:
                    raise NomadError(f"{what} at {address}: {why}") from error
                errors.append(f"{address}: {why}")
        raise NomadError(f"{what}: no Nomad answered: {'; '.join(errors)}")

    def job(self, job_id: str) -> dict[str, Any]:
        return self._ask(f"GET job {job_id}", lambda n: n.job.get_job(job_id))

    def register(self, spec: dict[str, Any]) -> dict[str, Any]:
        job_id = str(spec.get("ID"))
        return self._ask(
            f"register job {job_id}", lambda n: n.job.register_job(job_id, {"Job": spec})
        )

    def deployment(self, job_id: str) -> dict[str, Any] | None:
        """The job's latest deployment (None when it never had one)."""
        return self._ask(f"GET deployment of {job_id}", lambda n: n.job.get_deployment(job_id))

    def deployments(self, job_id: str) -> list[dict[str, Any]]:
        """Every deployment of the job, newest first."""
        found = self._ask(f"GET deployments of {job_id}", lambda n: n.job.get_deployments(job_id))
        return list(found or [])

    def allocations(self, job_id: str) -> list[dict[str, Any]]:
        found = self._ask(f"GET allocations of {job_id}", lambda n: n.job.get_allocations(job_id))
        return list(found or [])

    def allocation(self, alloc_id: str) -> dict[str, Any]:
        return self._ask(
            f"GET allocation {alloc_id}", lambda n: n.allocation.get_allocation(alloc_id)
        )

    def raft_servers(self) -> list[dict[str, Any]]:
        """The Raft peers (ID, Address, Node, Leader, Voter); a management token's call."""
        found = self._ask("GET Raft configuration", lambda n: n.operator.get_configuration())
        return list(found.get("Servers") or [])

    def transfer_leadership(self, server_id: str) -> None:
        """Hand Raft leadership to the server `server_id` (management token)."""
        self._ask(
            f"transfer Nomad leadership to {server_id}",
            lambda n: n.operator.request(
                "raft", "transfer-leadership", method="put", params={"id": server_id}
            ),
        )

    def scale(self, job_id: str, group: str, count: int, message: str) -> None:
        body = {"Count": count, "Target": {"Group": group}, "Message": message}
        self._ask(
            f"scale {job_id}/{group} to {count}",
            lambda n: n.job.request(job_id, "scale", method="post", json=body),
        )
