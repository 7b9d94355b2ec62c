"""Release faults: a VM killed in the middle of a rolling update, a release that
crash-loops. Both go through Nomad's job API, python-nomad with the deploy token
(`nomad_api.py`).

- rollout-kill: the job registered again with a new meta value (the same image, a new
  version Nomad rolls out one allocation at a time, as `playbooks/update.yml` does with
  a new tag), and as soon as its deployment runs, the chosen VM killed. Rollback: the
  VM started, the job registered as it was, and its deployment waited for.
- crash-loop: the job registered with a task that exits at once and short update
  deadlines; Nomad's `auto_revert` must put the last good version back. Rollback: wait
  for that revert; when it does not come, register the good version itself (and say so).
"""

from __future__ import annotations

import time
from typing import Any

from chaos import nomad_api
from chaos.fault_base import Context, Fault, FaultError
from chaos.target import VM

DEFAULT_JOB = "imgcloud-backend"
ROLLOUT_START_S = 30.0  # the new version's deployment must be running by then
SETTLE_S = 180.0  # a deployment of the good version must be successful by then
REVERT_S = 90.0  # Nomad must have reverted a crash-looping release by then
POLL_S = 1.0


def _asker(ctx: Context) -> VM:
    """A VM to ask Nomad from: one the fault does not hit."""
    hit = {vm.name for vm in ctx.vms}
    spared = [vm for vm in ctx.target.vms if vm.name not in hit]
    if not spared:
        raise FaultError("no VM is spared to ask Nomad from")
    return spared[0]


def _nomad(ctx: Context) -> nomad_api.NomadClient:
    """Nomad on a spared VM, with the deploy token."""
    try:
        return nomad_api.asking(ctx.executor, _asker(ctx), ctx.target.credentials)
    except nomad_api.NomadError as exc:
        raise FaultError(str(exc)) from exc


def _job_name(ctx: Context) -> str:
    return str(ctx.params.get("job", DEFAULT_JOB))


def _wait(what: str, deadline_s: float, look: Any) -> Any:
    """Poll `look()` until it returns something true; FaultError at the deadline."""
    deadline = time.monotonic() + deadline_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = look()
        except nomad_api.NomadError as exc:
            last = None
            error = str(exc)
        else:
            error = ""
            if last:
                return last
        time.sleep(POLL_S)
    raise FaultError(f"{what} not within {deadline_s:g} s{': ' + error if error else ''}")


def _deployment_of(ctx: Context, version: int, statuses: tuple[str, ...]) -> Any:
    name, nomad = _job_name(ctx), _nomad(ctx)

    def look() -> dict[str, Any] | None:
        found = nomad.deployment(name)
        if found and int(found.get("JobVersion", -1)) >= version:
            return found if found.get("Status") in statuses else None
        return None

    return look


def _note(ctx: Context, name: str, **detail: Any) -> None:
    if ctx.note:
        ctx.note(name, **detail)


def _remember(ctx: Context) -> dict[str, Any]:
    spec = _nomad(ctx).job(_job_name(ctx))
    ctx.memo["spec"], ctx.memo["version"] = spec, int(spec.get("Version", 0))
    return spec


def _put_back(ctx: Context) -> dict[str, Any]:
    """Register the job as it was and wait for its deployment to be successful."""
    spec = ctx.memo.get("spec")
    if spec is None:
        return {}
    nomad = _nomad(ctx)
    now = nomad.job(_job_name(ctx))
    version = int(now.get("Version", 0))
    same = (now.get("Meta") or {}) == (spec.get("Meta") or {})
    if not (same and nomad_api.task_args(now) == nomad_api.task_args(spec)):
        nomad.register(nomad_api.restored(spec))
        version += 1  # else Nomad already runs it (a revert): wait for its deployment
    done = _wait(
        f"the good version of {_job_name(ctx)} deployed",
        SETTLE_S,
        _deployment_of(ctx, version, ("successful",)),
    )
    return {"status": done.get("Status"), "version": done.get("JobVersion")}


def _rollout_inject(ctx: Context) -> None:
    spec = _remember(ctx)
    _nomad(ctx).register(nomad_api.bumped(spec, str(time.time())))
    running = _wait(
        f"a deployment of {_job_name(ctx)} running",
        ROLLOUT_START_S,
        _deployment_of(ctx, ctx.memo["version"] + 1, ("running",)),
    )
    _note(ctx, "rollout", deployment=running.get("ID"), version=running.get("JobVersion"))
    for vm in ctx.vms:
        ctx.backend.kill(vm)


def _rollout_rollback(ctx: Context) -> None:
    for vm in ctx.vms:
        ctx.backend.revive(vm)
    if "spec" not in ctx.memo:
        return
    state = _nomad(ctx).deployment(_job_name(ctx)) or {}
    _note(
        ctx,
        "rollout-state",
        status=state.get("Status"),
        description=state.get("StatusDescription"),
        version=state.get("JobVersion"),
    )
    _note(ctx, "release-restored", **_put_back(ctx))


def _crash_inject(ctx: Context) -> None:
    spec = _remember(ctx)
    _nomad(ctx).register(nomad_api.crash_looping(spec))


def _crash_rollback(ctx: Context) -> None:
    if "spec" not in ctx.memo:
        return
    name, nomad = _job_name(ctx), _nomad(ctx)
    good = nomad_api.task_args(ctx.memo["spec"])

    def reverted() -> dict[str, Any] | None:
        now = nomad.job(name)
        back = int(now.get("Version", 0)) > ctx.memo["version"] + 1
        return now if back and nomad_api.task_args(now) == good else None

    try:
        now = _wait(f"Nomad reverting {name}", REVERT_S, reverted)
    except FaultError as exc:
        _note(ctx, "release-restored", by="the suite", **_put_back(ctx))
        raise FaultError(f"{exc}; the suite registered the good version itself") from exc
    done = _wait(
        f"the reverted {name} deployed",
        SETTLE_S,
        _deployment_of(ctx, int(now.get("Version", 0)), ("successful",)),
    )
    _note(ctx, "release-restored", by="nomad", version=done.get("JobVersion"))


FAULTS: dict[str, Fault] = {
    "rollout-kill": Fault(
        _rollout_inject,
        _rollout_rollback,
        "roll out {job} again (new meta) and kill {vms} while it deploys; start it, "
        "put the job back",
        "silent-during-rollout",
    ),
    "crash-loop": Fault(
        _crash_inject,
        _crash_rollback,
        "release {job} with a task that exits at once; wait for Nomad's auto-revert",
        "release-reverted",
    ),
}
