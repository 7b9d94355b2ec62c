"""Fault injectors. Each fault has an `inject` and a `rollback`; the VM-level actions
come from a pluggable backend: Docker in the lab (`docker kill/start/pause/unpause` of
the VM containers), SSH + systemd + iptables on real VMs (which cannot be powered
back on from here, so a "killed" VM is black-holed and loses its keepalived).

Network faults use one iptables chain, IMGCLOUD-CHAOS, jumped to from INPUT, OUTPUT
and FORWARD (FORWARD carries the app containers' traffic), so a rollback is one
flush and can never leave a stray rule behind.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any, Protocol

from chaos import faults_provider, faults_release, faults_vm
from chaos.fault_base import Context, Fault, FaultError, check, on_all, sh
from chaos.remote import Executor, local
from chaos.target import VM, Target

__all__ = ["FAULTS", "Context", "Fault", "FaultError", "on_all", "restore_everything", "sh"]

CHAIN = "IMGCLOUD-CHAOS"
AGENTS = {
    "consul": ["consul"],
    "nomad": ["nomad"],
    "haproxy": ["haproxy"],
    "docker": ["docker.socket", "docker"],
    "keepalived": ["keepalived"],
}
# What a real VM's "death" freezes (SIGSTOP) or stops, in this order.
_VM_UNITS = ("keepalived", "haproxy", "nomad", "consul")


def _chain_script(rules: list[str]) -> str:
    lines = [f"iptables -N {CHAIN} 2>/dev/null || true"]
    for hook in ("INPUT", "OUTPUT", "FORWARD"):
        lines.append(
            f"iptables -C {hook} -j {CHAIN} 2>/dev/null || iptables -I {hook} 1 -j {CHAIN}"
        )
    lines += [f"iptables -A {CHAIN} {rule}" for rule in rules]
    return " && ".join(lines)


def _unchain_script() -> str:
    parts = [
        f"while iptables -D {hook} -j {CHAIN} 2>/dev/null; do :; done"
        for hook in ("INPUT", "OUTPUT", "FORWARD")
    ]
    parts += [f"iptables -F {CHAIN} 2>/dev/null", f"iptables -X {CHAIN} 2>/dev/null", "true"]
    return "; ".join(parts)


class Backend(Protocol):
    def kill(self, vm: VM) -> None: ...
    def revive(self, vm: VM) -> None: ...
    def freeze(self, vm: VM) -> None: ...
    def thaw(self, vm: VM) -> None: ...
    def broker_down(self) -> None: ...
    def broker_up(self) -> None: ...
    def restore(self) -> None: ...


@dataclass
class LabBackend:
    """The lab: VMs are containers on this host, the provider a container too."""

    target: Target
    executor: Executor

    def _docker(self, *args: str) -> Any:
        return local(["docker", *args], timeout=60)

    def kill(self, vm: VM) -> None:
        """Power loss: the VM's network goes silent, then everything in it dies.

        `docker kill` alone lets the dying VM's kernel refuse connections (RST) for the
        few hundred milliseconds its processes take to die, which no crashed machine
        does: a dead VM's packets just vanish. So its network is cut first (every chain
        dropping, inside the VM), then it is killed; `docker start` brings a fresh one."""
        chains = ("INPUT", "OUTPUT", "FORWARD")
        drop = "; ".join(f"iptables -I {chain} 1 -j DROP" for chain in chains)
        self._docker("exec", str(vm.container), "sh", "-c", drop)
        check(self._docker("kill", str(vm.container)), f"docker kill {vm.container}")

    def revive(self, vm: VM) -> None:
        check(self._docker("start", str(vm.container)), f"docker start {vm.container}")

    def freeze(self, vm: VM) -> None:
        check(self._docker("pause", str(vm.container)), f"docker pause {vm.container}")

    def thaw(self, vm: VM) -> None:
        state = self._docker("inspect", "-f", "{{.State.Paused}}", str(vm.container))
        if state.stdout.strip() == "true":
            check(self._docker("unpause", str(vm.container)), f"docker unpause {vm.container}")

    def _provider(self, *command: str) -> Any:
        return self._docker("exec", str(self.target.provider_container), *command)

    def broker_down(self) -> None:
        check(self._provider("systemctl", "stop", "rabbitmq-server"), "stopping RabbitMQ")

    def broker_up(self) -> None:
        check(self._provider("systemctl", "start", "rabbitmq-server"), "starting RabbitMQ")

    def restore(self) -> None:
        """Every VM running and unfrozen, every provider service started."""
        for vm in self.target.vms:
            self.thaw(vm)
            running = self._docker("inspect", "-f", "{{.State.Running}}", str(vm.container))
            if running.stdout.strip() != "true":
                self.revive(vm)
        self._provider("systemctl", "start", "rabbitmq-server", "minio")


@dataclass
class SshBackend:
    """Real VMs over SSH: a killed VM is black-holed (all but SSH dropped) and then its
    keepalived stopped, so it drops the floating IP without a goodbye advert (which the
    black hole swallows) and the peers see what a dead VM looks like."""

    target: Target
    executor: Executor

    def _sh(self, vm: VM, script: str) -> Any:
        return sh(self.executor, vm, script)

    def kill(self, vm: VM) -> None:
        rules = ["-p tcp --dport 22 -j RETURN", "-p tcp --sport 22 -j RETURN", "-j DROP"]
        check(
            self._sh(vm, _chain_script(rules) + " && systemctl stop keepalived"),
            f"black-holing {vm.name}",
        )

    def revive(self, vm: VM) -> None:
        check(
            self._sh(vm, _unchain_script() + "; systemctl start keepalived"), f"reviving {vm.name}"
        )

    def freeze(self, vm: VM) -> None:
        units = " ".join(_VM_UNITS)
        script = f"systemctl kill -s STOP {units}; docker ps -q | xargs -r docker pause"
        check(self._sh(vm, script), f"freezing {vm.name}")

    def thaw(self, vm: VM) -> None:
        units = " ".join(_VM_UNITS)
        script = (
            f"docker ps -q --filter status=paused | xargs -r docker unpause; "
            f"systemctl kill -s CONT {units}; true"
        )
        check(self._sh(vm, script), f"thawing {vm.name}")

    def _broker_rules(self) -> list[str]:
        if not self.target.amqp:
            raise FaultError("the inventory sets no imgcloud_amqp_url; cannot cut the broker")
        host, port = self.target.amqp
        return [f"-p tcp -d {host} --dport {port} -j REJECT --reject-with tcp-reset"]

    def broker_down(self) -> None:
        for done in on_all(
            self.target, lambda vm: self._sh(vm, _chain_script(self._broker_rules()))
        ):
            check(done, "cutting the broker off")

    def broker_up(self) -> None:
        on_all(self.target, lambda vm: self._sh(vm, _unchain_script()))

    def restore(self) -> None:
        def one(vm: VM) -> Any:
            return self._sh(
                vm,
                _unchain_script()
                + "; "
                + "; ".join(f"systemctl kill -s CONT {u}" for u in _VM_UNITS)
                + "; systemctl start "
                + " ".join(_VM_UNITS)
                + " docker; true",
            )

        on_all(self.target, one)
        for vm in self.target.vms:
            self.thaw(vm)


def backend_for(target: Target, executor: Executor) -> Backend:
    return LabBackend(target, executor) if target.lab else SshBackend(target, executor)


# -- the faults --------------------------------------------------------------------------


def _kill_inject(ctx: Context) -> None:
    for vm in ctx.vms:
        ctx.backend.kill(vm)


def _kill_rollback(ctx: Context) -> None:
    for vm in ctx.vms:
        ctx.backend.revive(vm)


def _freeze_inject(ctx: Context) -> None:
    for vm in ctx.vms:
        ctx.backend.freeze(vm)


def _freeze_rollback(ctx: Context) -> None:
    for vm in ctx.vms:
        ctx.backend.thaw(vm)


def _partition_inject(ctx: Context) -> None:
    for vm in ctx.vms:
        peers = [p.address for p in ctx.target.vms if p.name != vm.name]
        rules = [f"-s {p} -j DROP" for p in peers] + [f"-d {p} -j DROP" for p in peers]
        check(sh(ctx.executor, vm, _chain_script(rules)), f"partitioning {vm.name}")


def _unchain_all(ctx: Context) -> None:
    for done in on_all(ctx.target, lambda vm: sh(ctx.executor, vm, _unchain_script())):
        check(done, "removing the chaos iptables chain")


def _agent_units(ctx: Context) -> list[str]:
    agent = ctx.params.get("agent", "")
    if agent not in AGENTS:
        raise FaultError(f"unknown agent {agent!r}; choose one of {sorted(AGENTS)}")
    return AGENTS[agent]


def _stop_agent_inject(ctx: Context) -> None:
    units = " ".join(_agent_units(ctx))
    for vm in ctx.vms:
        check(sh(ctx.executor, vm, f"systemctl stop {units}"), f"stopping {units} on {vm.name}")


def _stop_agent_rollback(ctx: Context) -> None:
    units = " ".join(_agent_units(ctx))
    for vm in ctx.vms:
        check(sh(ctx.executor, vm, f"systemctl start {units}"), f"starting {units} on {vm.name}")


# With `busy`, the kill waits (at most this long) until the task reports a job in
# progress on its /metrics: a worker killed between jobs proves nothing about what
# happens to the job it holds.
BUSY_WAIT_S = 20


def _busy_wait_script(container: str) -> str:
    metrics = f"http://$(docker port {container} 8080/tcp | head -n1)/metrics"
    return (
        f"end=$(( $(date +%s) + {BUSY_WAIT_S} )); "
        f"until curl -s --max-time 1 {metrics} | grep -Eq '^imgcloud_jobs_in_progress [1-9]'; do "
        f'[ "$(date +%s)" -lt "$end" ] '
        f'|| {{ echo "no job in progress in {BUSY_WAIT_S} s" >&2; exit 3; }}; '
        "sleep 0.05; done"
    )


def _kill_app_inject(ctx: Context) -> None:
    task = shlex.quote(str(ctx.params.get("task", "backend")))
    for vm in ctx.vms:
        script = f'ids=$(docker ps -q --filter name=^/{task}-) && [ -n "$ids" ]'
        if ctx.params.get("busy"):
            script += " && " + _busy_wait_script("$ids")
        script += " && docker kill $ids"
        done = sh(ctx.executor, vm, script, timeout=BUSY_WAIT_S + 30)
        check(done, f"killing the {task} container on {vm.name}")


def _kill_mid_job_inject(ctx: Context) -> None:
    """S3 slowed first (every call +0.8 s: a job takes seconds instead of a fraction of
    one), then the task killed once it reports a job in hand, so the kill lands mid-job
    rather than racing a resize that finishes in 0.3 s."""
    faults_provider.add_toxics(ctx)
    _kill_app_inject(ctx)


def _nothing(ctx: Context) -> None:
    """Nomad restarts a killed task by itself; the rollback only waits (runner)."""


def _broker_inject(ctx: Context) -> None:
    ctx.backend.broker_down()


def _broker_rollback(ctx: Context) -> None:
    ctx.backend.broker_up()


def _s3_inject(ctx: Context) -> None:
    if not ctx.target.s3:
        raise FaultError("no S3 endpoint known (lab status or imgcloud_s3_endpoint)")
    host, port = ctx.target.s3
    rule = f"-p tcp -d {host} --dport {port} -j REJECT --reject-with tcp-reset"
    for done in on_all(ctx.target, lambda vm: sh(ctx.executor, vm, _chain_script([rule]))):
        check(done, "cutting S3 off")


FAULTS: dict[str, Fault] = {
    "kill-vm": Fault(_kill_inject, _kill_rollback, "kill {vms} hard; start again", "silent"),
    "freeze-vm": Fault(_freeze_inject, _freeze_rollback, "freeze {vms}; thaw", "silent"),
    "partition-vm": Fault(
        _partition_inject, _unchain_all, "cut {vms} off from its peers; heal", "members-failed"
    ),
    "stop-agent": Fault(
        _stop_agent_inject, _stop_agent_rollback, "stop {agent} on {vms}; start", "unit-inactive"
    ),
    "kill-app": Fault(
        _kill_app_inject,
        _nothing,
        "docker kill the {task} container on {vms}",
        "container-replaced",
    ),
    "kill-app-mid-job": Fault(
        _kill_mid_job_inject,
        faults_provider.remove_toxics,
        "slow S3 down ({type} on the {proxy} proxy); docker kill the {task} container on "
        "{vms} once it holds a job; S3 back",
        "container-replaced",
        faults_provider.no_toxiproxy,
    ),
    "broker-down": Fault(
        _broker_inject, _broker_rollback, "stop RabbitMQ; start it again", "clear-503"
    ),
    "s3-down": Fault(
        _s3_inject, _unchain_all, "reject S3 traffic from every VM; allow again", "clear-503"
    ),
}


# The slow or flaky provider, a VM's own disk and clock, and releases: their own modules.
FAULTS.update(faults_provider.FAULTS)
FAULTS.update(faults_vm.FAULTS)
FAULTS.update(faults_release.FAULTS)


def restore_everything(target: Target, executor: Executor, backend: Backend) -> None:
    """The safety net after every experiment: VMs up and thawed, chain gone, agents and
    provider services started, no toxic left, no disk filled, no clock jumped.
    Idempotent; errors are ignored (health decides)."""
    try:
        backend.restore()
    finally:
        faults_provider.restore(target)  # these two never raise
        faults_vm.restore(target, executor)
        units = " ".join(u for units in AGENTS.values() for u in units)
        on_all(
            target,
            lambda vm: sh(
                executor, vm, _unchain_script() + f"; systemctl start --no-block {units}; true"
            ),
        )
