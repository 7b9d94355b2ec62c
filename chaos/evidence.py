"""Evidence, gathered from outside the injector, that a fault took effect.

While a fault is in place the runner polls the cluster (never a fixed sleep: every
watch polls until it sees the effect or its deadline) and records what it saw as
`effect` events, which `effects.py` judges:

- `members-failed`: a VM the fault spared lists every VM hit as failed in Consul's
  members (a VM cut off from its peers; on real VMs, also a killed or frozen one);
- `unit-inactive`: `systemctl is-active` says every stopped unit is inactive;
- `container-replaced`: the task's container running after the kill is not the one
  running before it;
- `toxic`: the toxics a provider fault added, read back from Toxiproxy's API;
- `disk-full`, `clock-skewed`: the VM hit has < 1 MiB free, or reads a clock off the
  controller's by at least half the jump;
- `rollout-running`: after the VM was killed, a deployment of the new version still
  runs; `release-reverted`: the bad release's tasks crashed and Nomad failed its
  deployment "rolling back" (Nomad's own words, not the suite registering the good one).

A killed or frozen VM in the lab needs no watch (its samples stop), nor do broker and
S3 faults (uploads fail with the service's 503): both are read from the journal.
"""

from __future__ import annotations

import shlex
import threading
import time
from typing import Any

from chaos import faults_provider, faults_vm, nomad_api, probes
from chaos.faults import AGENTS, Context, sh
from chaos.journal import Journal
from chaos.remote import run
from chaos.toxiproxy import Toxiproxy

POLL_S = 0.5  # between two looks at the cluster
CONTAINER_GRACE_S = 30.0  # Nomad restarts a killed task after its restart delay (5 s)
RELEASE_GRACE_S = 90.0  # Nomad reverts a crash-looping release after its healthy deadline


class Watch:
    """Polls for one effect from `start` until seen, `stop`, or the deadline."""

    rule = ""
    outlives_window = False  # True: keeps looking after the rollback, to its deadline

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
        # Failed, or already "left": Consul's autopilot reaps a failed server out of the
        # Raft configuration a few seconds after Serf declares it failed (measured in the
        # lab: failed 7 s after the cut, left at 11 s), and a look that comes late finds
        # it left. Either way the majority saw the cut-off VM dead.
        status = {
            target.name_of(str(m.get("Addr", ""))) or str(m.get("Name")): m.get("Status")
            for m in members
        }
        failed = sorted(n for n, s in status.items() if s in (probes.SERF_FAILED, probes.SERF_LEFT))
        left = sorted(n for n, s in status.items() if s == probes.SERF_LEFT)
        self.last = {"vm": spared[0].name, "failed": failed, "left": left}
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
    outlives_window = True  # a replaced container may come after the rollback

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
    if effect in ("toxic-slow", "toxic-503"):
        return ToxicInstalled(ctx, journal), window
    if effect == "disk-full":
        return DiskFull(ctx, journal), window
    if effect == "clock-skewed":
        return ClockSkewed(ctx, journal), window
    if effect == "silent-during-rollout":
        return RolloutRunning(ctx, journal), window
    if effect == "release-reverted":
        return ReleaseReverted(ctx, journal), window + RELEASE_GRACE_S
    return None, 0.0


class ToxicInstalled(Watch):
    """The toxics the fault asked for, read back from Toxiproxy's API."""

    rule = "toxic"

    def look(self) -> bool:
        info = self.ctx.target.toxiproxy
        if info is None:
            self.last = {"error": "the target has no Toxiproxy"}
            return False
        wanted = faults_provider.toxics(self.ctx.params)
        with Toxiproxy(info.api) as client:
            proxies = client.proxies()
        proxy = wanted[0]["proxy"]
        there = proxies[proxy].toxics if proxy in proxies else ()
        self.last = {
            "proxy": proxy,
            "toxics": [{"name": t.name, "type": t.type, "stream": t.stream} for t in there],
        }
        names = {(t.name, t.type) for t in there}
        return all((w["name"], w["type"]) in names for w in wanted)


class DiskFull(Watch):
    """Every VM hit has less than 1 MiB free where Docker and the agents write."""

    rule = "disk-full"

    def look(self) -> bool:
        free: dict[str, dict[str, int]] = {}
        for vm in self.ctx.vms:
            done = sh(self.ctx.executor, vm, faults_vm.free_script(), 15)
            pairs = [line.split() for line in done.stdout.splitlines() if line.strip()]
            free[vm.name] = {p[0]: int(p[1]) for p in pairs if len(p) == 2 and p[1].isdigit()}
        self.last = {"free": free}
        return bool(free) and all(
            found.get(faults_vm.FILL_DIRS[0], faults_vm.FULL_BELOW) < faults_vm.FULL_BELOW
            for found in free.values()
        )


class ClockSkewed(Watch):
    """Every VM hit reads a wall clock off the controller's by at least half the jump."""

    rule = "clock-skewed"

    def look(self) -> bool:
        offset = float(self.ctx.params.get("offset_s", faults_vm.CLOCK_JUMP_S))
        skews: dict[str, float | None] = {}
        for vm in self.ctx.vms:
            asked = time.time()
            done = sh(self.ctx.executor, vm, "date +%s.%N", 15)
            answered = time.time()
            try:
                skews[vm.name] = round(float(done.stdout.strip()) - (asked + answered) / 2, 2)
            except ValueError:
                skews[vm.name] = None
        self.last = {"skew_s": skews}
        return all(s is not None and abs(s) >= offset / 2 for s in skews.values())


class _Release(Watch):
    """Reads the job from Nomad on a VM the fault spares, with the deploy token."""

    version = -1

    def _ask(self) -> tuple[nomad_api.NomadClient, str]:
        hit = {vm.name for vm in self.ctx.vms}
        spared = [vm for vm in self.ctx.target.vms if vm.name not in hit]
        nomad = nomad_api.asking(self.ctx.executor, spared[0], self.ctx.target.credentials)
        return nomad, str(self.ctx.params.get("job", "imgcloud-backend"))

    def before(self) -> None:
        nomad, job = self._ask()
        self.version = int(nomad.job(job).get("Version", -1))


class RolloutRunning(_Release):
    """A deployment of a newer version than before the fault still runs after the kill."""

    rule = "rollout-running"

    def look(self) -> bool:
        nomad, job = self._ask()
        found = nomad.deployment(job) or {}
        self.last = {
            "deployment": str(found.get("ID", ""))[:8],
            "version": found.get("JobVersion"),
            "status": found.get("Status"),
            "description": found.get("StatusDescription"),
        }
        return int(found.get("JobVersion", -1)) > self.version and found.get("Status") == "running"


class ReleaseReverted(_Release):
    """The bad release's tasks crashed and Nomad failed its deployment and rolled back."""

    rule = "release-reverted"
    outlives_window = True  # Nomad gives up on the release after its healthy deadline

    def look(self) -> bool:
        nomad, job = self._ask()
        allocs = nomad.allocations(job)
        crashed = nomad_api.crashed(allocs, self.version)
        found = nomad.deployments(job)
        failed = nomad_api.reverted_by_nomad(found, self.version + 1)
        self.last = {
            "crashed": crashed,
            "bad_version": self.version + 1,
            "reverted": (failed or {}).get("StatusDescription"),
        }
        return bool(crashed) and failed is not None
