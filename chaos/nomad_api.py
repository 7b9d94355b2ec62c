"""Nomad's job API as the release faults use it, asked from the controller.

Through python-nomad (deploy.nomad_client), with the deploy token (submit and read
jobs only) and the cluster CA, on a VM the fault spares: directly at its private
address in the lab, through an SSH forward on real VMs (chaos.remote). Below the
client, what the faults do to a job spec and read from Nomad's answers, all pure.
"""

from __future__ import annotations

import copy
from typing import Any

from chaos.remote import Executor
from chaos.target import VM
from deploy.credentials import NOMAD_HTTP_PORT, Credentials
from deploy.nomad_client import NomadClient, NomadError

__all__ = ["NomadClient", "NomadError", "asking"]


def asking(executor: Executor, vm: VM, credentials: Credentials | None) -> NomadClient:
    """Nomad's API on `vm` as the controller reaches it, called with the deploy token."""
    if credentials is None:
        raise NomadError("no Nomad deploy token for this cluster (deploy.credentials)")
    try:
        address = executor.api_address(vm, NOMAD_HTTP_PORT)
    except OSError as exc:
        raise NomadError(f"cannot reach Nomad on {vm.name}: {exc}") from exc
    return NomadClient([address], credentials.nomad_deploy_token, credentials.ca_file)


# -- job specs, pure -------------------------------------------------------------------

ROLLOUT_META = "imgcloud_chaos_rollout"
CRASH_ARGS = ["chaos-crash-loop"]  # `imgcloud chaos-crash-loop`: no such command, exit 2
_S = 1_000_000_000  # Nomad's durations are nanoseconds in JSON


def bumped(spec: dict[str, Any], stamp: str) -> dict[str, Any]:
    """The same job with a new meta value: the same image, yet a new version whose
    tasks Nomad replaces one at a time (meta reaches the tasks' environment)."""
    out = copy.deepcopy(spec)
    out["Meta"] = {**(out.get("Meta") or {}), ROLLOUT_META: stamp}
    return out


def crash_looping(
    spec: dict[str, Any], healthy_deadline_s: float = 25, progress_deadline_s: float = 30
) -> dict[str, Any]:
    """The same job whose task exits at once (an unknown command), with short update
    deadlines so Nomad gives up on it, and reverts, within half a minute."""
    out = copy.deepcopy(spec)
    for group in out.get("TaskGroups") or []:
        for task in group.get("Tasks") or []:
            task.setdefault("Config", {})["args"] = list(CRASH_ARGS)
        update = group.get("Update") or {}
        update["HealthyDeadline"] = int(healthy_deadline_s * _S)
        update["ProgressDeadline"] = int(progress_deadline_s * _S)
        update["AutoRevert"] = True
        group["Update"] = update
    return out


def restored(spec: dict[str, Any]) -> dict[str, Any]:
    """The job as it was before the fault, registered again (without server fields)."""
    out = copy.deepcopy(spec)
    for server_side in ("Version", "Status", "StatusDescription", "Stable", "SubmitTime"):
        out.pop(server_side, None)
    return out


def task_args(spec: dict[str, Any]) -> list[Any]:
    groups = spec.get("TaskGroups") or [{}]
    tasks = groups[0].get("Tasks") or [{}]
    return list((tasks[0].get("Config") or {}).get("args") or [])


def reverted_by_nomad(found: list[dict[str, Any]], bad_version: int) -> dict[str, Any] | None:
    """The bad version's deployment when Nomad failed it and rolled back, else None."""
    for one in found:
        failed = int(one.get("JobVersion", -1)) == bad_version and one.get("Status") == "failed"
        if failed and "rolling back" in str(one.get("StatusDescription", "")).lower():
            return one
    return None


def crashed(allocs: list[dict[str, Any]], since_version: int) -> list[str]:
    """Allocations of a version after `since_version` whose task exited or restarted."""
    out = []
    for alloc in allocs:
        if int(alloc.get("JobVersion", -1)) <= since_version:
            continue
        states = (alloc.get("TaskStates") or {}).values()
        if any(s.get("Restarts") or s.get("Failed") for s in states) or (
            alloc.get("ClientStatus") == "failed"
        ):
            out.append(str(alloc.get("ID", "?"))[:8])
    return out
