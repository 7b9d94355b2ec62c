"""Cluster observers: one sampler per VM streaming who it names as leader and
whether it holds the floating IP, for the whole experiment.

A sampler that dies with its VM (killed, or `docker exec` refused while paused) is
started again as soon as the VM answers; the gap in its samples is itself a fact
the report shows ("vm2 did not answer").
"""

from __future__ import annotations

import subprocess
import threading
import time

from chaos import probes
from chaos.journal import Journal, Sample
from chaos.remote import Executor
from chaos.target import VM, Target


class Observer:
    def __init__(
        self,
        executor: Executor,
        target: Target,
        journal: Journal,
        period: float = 0.25,
        lifetime: float = 1800,
        watch: tuple[VM, ...] | None = None,
    ) -> None:
        """`watch`: the VMs to sample (default every VM of the target, which also
        names the leaders: a VM that joins later gets an observer of its own)."""
        self._executor, self._target, self._journal = executor, target, journal
        self._watched = target.vms if watch is None else watch
        self._period, self._lifetime = period, lifetime
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._procs: dict[str, subprocess.Popen[str]] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        for vm in self._watched:
            thread = threading.Thread(target=self._watch, args=(vm,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            procs = list(self._procs.values())
        for proc in procs:
            _close(proc)
        for thread in self._threads:
            thread.join(timeout=5)

    def _leader(self, value: object) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            return ""
        return self._target.name_of(value) or value

    def _watch(self, vm: VM) -> None:
        command = probes.sampler_command(self._target.vip, self._period, self._lifetime)
        argv = self._executor.argv(vm, command)
        while not self._stop.is_set():
            with subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            ) as proc:
                with self._lock:
                    self._procs[vm.name] = proc
                assert proc.stdout is not None
                for line in proc.stdout:
                    self._record(vm, line)
                _close(proc)
            self._stop.wait(0.5)

    def _record(self, vm: VM, line: str) -> None:
        value = probes.parse_sample(line)
        if value is None:
            return
        self._journal.sample(
            Sample(
                t=time.time(),
                node=vm.name,
                consul_leader=self._leader(value["consul"]),
                nomad_leader=self._leader(value["nomad"]),
                vip=bool(value["vip"]),
            )
        )


def _close(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is not None:
        return
    try:
        if proc.stdin:
            proc.stdin.close()
    except OSError:
        pass
    try:
        proc.wait(timeout=2)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
