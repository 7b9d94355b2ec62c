"""Evidence, gathered from outside the injector, that a fault took effect.

While a fault is in place the runner polls the cluster (never a fixed sleep: every
watch polls until it sees the effect or its deadline) and records what it saw as
`effect` events, which `effects.py` judges:

- `members-failed`: a VM the fault spared lists every VM hit as failed in Consul's
  members (a VM cut off from its peers; on real VMs, also a killed or frozen one);
- `unit-inactive`: `systemctl is-active` says every stopped unit is inactive;
- `container-replaced`: the task's container running after the kill is not the one
  running before it.

A killed or frozen VM in the lab needs no watch (its samples stop), nor do broker and
S3 faults (uploads fail with the service's 503): both are read from the journal.
"""

from __future__ import annotations

import shlex
import threading
import time
from typing import Any

from chaos import probes
from chaos.faults import AGENTS, Context, sh
from chaos.journal import Journal
from chaos.remote import run

POLL_S = 0.5  # between two looks at the cluster
CONTAINER_GRACE_S = 30.0  # Nomad restarts a killed task after its restart delay (5 s)


class Watch:
    """Polls for one effect from `start` until seen, `stop`, or the deadline."""

    rule = ""

    def __init__(self, ctx: Context, journal: Journal) -> None:
        self.ctx, self.journal = ctx, journal
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last: dict[str, Any] = {}  # what the latest look saw

    def before(self) -> None:
        """Called before the fault is injected."""

    def look(self) -> bool:
        """One look at the cluster; True when the effect is seen. Sets `last`."""
        raise NotImplementedError

    def start(self, within_s: float) -> None:
        self._thread = threading.Thread(target=self._poll, args=(within_s,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """The window is over: stop looking (a look in progress finishes)."""
        self._stop.set()

    def join(self, timeout: float = 60) -> None:
        if self._thread:
            self._thread.join(timeout)

    def _poll(self, within_s: float) -> None:
        deadline = time.monotonic() + within_s
        seen = False
        while not seen and not self._stop.is_set() and time.monotonic() < deadline:
            try:
                seen = self.look()
            except Exception as exc:  # a watch must never break the experiment
                self.last = {"error": f"{type(exc).__name__}: {exc}"}
            if not seen:
                self._stop.wait(POLL_S)
        self.journal.event(time.time(), "effect", rule=self.rule, seen=seen, **self.last)


class MembersFailed(Watch):
    rule = "members-failed"

    def look(self) -> bool:
        target, hit = self.ctx.target, {vm.name for vm in self.ctx.vms}
        spared = [vm for vm in target.vms if vm.name not in hit]
        if not spared:
            self.last = {"error": "no VM was spared to ask"}
            return False
        creds = target.credentials
        tokens = probes.health_input(creds.consul_token if creds else "", "")
        done = run(self.ctx.executor, spared[0], probes.members_command(), 10, stdin=tokens)
        members = probes.parse_members(done.stdout)
        if members is None:
            self.last = {"vm": spared[0].name, "error": (done.stdout or done.stderr)[-200:]}
            return False
        failed = sorted(
            target.name_of(str(m.get("Addr", ""))) or str(m.get("Name"))
            for m in members
            if m.get("Status") == probes.SERF_FAILED
        )
        self.last = {"vm": spared[0].name, "failed": failed}
        return hit <= set(failed)


class UnitInactive(Watch):
    rule = "unit-inactive"

    def look(self) -> bool:
        units = AGENTS.get(str(self.ctx.params.get("agent")), [])
        states: dict[str, dict[str, str]] = {}
        for vm in self.ctx.vms:
            done = sh(self.ctx.executor, vm, f"systemctl is-active {' '.join(units)}", 10)
            answers = done.stdout.split()
            states[vm.name] = dict(zip(units, answers, strict=False))
        self.last = {"units": states}
        return bool(units) and all(
            len(found) == len(units) and all(s in ("inactive", "failed") for s in found.values())
            for found in states.values()
        )


class ContainerReplaced(Watch):
    rule = "container-replaced"

    def _ids(self) -> dict[str, list[str]]:
        task = shlex.quote(str(self.ctx.params.get("task", "backend")))
        script = f"docker ps -q --no-trunc --filter name=^/{task}-"
        out = {}
        for vm in self.ctx.vms:
            done = sh(self.ctx.executor, vm, script, 15)
            out[vm.name] = sorted(done.stdout.split()) if done.returncode == 0 else []
        return out

    was: dict[str, list[str]] | None = None

    def before(self) -> None:
        self.was = self._ids()

    def look(self) -> bool:
        was, now = self.was or {}, self._ids()
        self.last = {"before": was, "after": now}
        return bool(was) and all(now[vm] and not set(now[vm]) & set(was.get(vm, [])) for vm in now)


def watch_for(
    effect: str, ctx: Context, journal: Journal, window: float
) -> tuple[Watch | None, float]:
    """The watch that gathers `effect`'s evidence, and how long past the injection it may
    look (the fault `window`, longer for a restart); None where the journal is the evidence."""
    if effect == "members-failed" or (effect == "silent" and not ctx.target.lab):
        return MembersFailed(ctx, journal), window  # real VMs: samplers still reach them
    if effect == "unit-inactive":
        return UnitInactive(ctx, journal), window
    if effect == "container-replaced":
        return ContainerReplaced(ctx, journal), window + CONTAINER_GRACE_S
    return None, 0.0
