"""Nomad's job API as the release faults use it, called from inside a VM.

Nomad answers HTTPS on each VM's loopback only (`deploy.credentials.NOMAD_API`), so
like the health probe a small Python program runs on a VM (through `docker exec` or
`ssh`) and makes the one call; the deploy token (submit and read jobs only) reaches it
on stdin, never on a command line. Only what the faults and watches need: a job, its
registration, its latest deployment and its allocations.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from chaos.remote import Executor, run
from chaos.target import VM
from deploy.credentials import NOMAD_API, VM_CA_FILE

PROGRAM = (
    f"NOMAD_API, CA_FILE = {NOMAD_API!r}, {VM_CA_FILE!r}\n"
    + r"""
import json, ssl, sys, urllib.error, urllib.request
ask = json.loads(sys.stdin.readline())
try:
    tls = ssl.create_default_context(cafile=CA_FILE)
except OSError:
    tls = ssl.create_default_context()
body = None if ask.get("body") is None else json.dumps(ask["body"]).encode()
request = urllib.request.Request(
    NOMAD_API + ask["path"], data=body, method=ask["method"],
    headers={"X-Nomad-Token": ask.get("token", ""), "Content-Type": "application/json"})
try:
    with urllib.request.urlopen(request, timeout=10, context=tls) as answer:
        text = answer.read().decode()
        print(json.dumps({"status": answer.status, "body": json.loads(text or "null")}))
except urllib.error.HTTPError as exc:
    print(json.dumps({"status": exc.code, "error": exc.read().decode()[:300]}))
except Exception as exc:
    print(json.dumps({"status": None, "error": f"{type(exc).__name__}: {exc}"}))
"""
)


class NomadError(RuntimeError):
    """Nomad refused or did not answer; the message says which call and why."""


def call(executor: Executor, vm: VM, token: str, method: str, path: str, body: Any = None) -> Any:
    """One call of Nomad's API from inside `vm`; its JSON answer, or NomadError."""
    ask = json.dumps({"method": method, "path": path, "body": body, "token": token}) + "\n"
    done = run(executor, vm, ["python3", "-c", PROGRAM], timeout=20, stdin=ask)
    try:
        answer = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError) as exc:
        said = (done.stderr or done.stdout or "").strip()[-200:]
        raise NomadError(f"{method} {path} on {vm.name}: no answer ({said})") from exc
    if answer.get("status") != 200:
        said = f"{answer.get('status')} {answer.get('error')}"
        raise NomadError(f"{method} {path} on {vm.name}: {said}")
    return answer.get("body")


def job(executor: Executor, vm: VM, token: str, name: str) -> dict[str, Any]:
    return call(executor, vm, token, "GET", f"/v1/job/{name}")


def register(executor: Executor, vm: VM, token: str, spec: dict[str, Any]) -> dict[str, Any]:
    return call(executor, vm, token, "POST", "/v1/jobs", {"Job": spec})


def deployment(executor: Executor, vm: VM, token: str, name: str) -> dict[str, Any] | None:
    """The job's latest deployment (None when it never had one)."""
    return call(executor, vm, token, "GET", f"/v1/job/{name}/deployment")


def deployments(executor: Executor, vm: VM, token: str, name: str) -> list[dict[str, Any]]:
    """Every deployment of the job, newest first."""
    return call(executor, vm, token, "GET", f"/v1/job/{name}/deployments") or []


def allocations(executor: Executor, vm: VM, token: str, name: str) -> list[dict[str, Any]]:
    return call(executor, vm, token, "GET", f"/v1/job/{name}/allocations") or []


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
