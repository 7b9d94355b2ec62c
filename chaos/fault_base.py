"""What every fault is made of: the `Fault` (inject, rollback, its effect rule), the
`Context` it acts in, and running a shell script on one or every VM.

Its own module so the fault families (`faults.py`, `faults_provider.py`,
`faults_vm.py`, `faults_release.py`) build on it without importing one another.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from chaos.remote import Executor, run
from chaos.target import VM, Target


class FaultError(RuntimeError):
    """A fault could not be injected or rolled back; the message says where."""


def check(done: Any, what: str) -> None:
    if done.returncode != 0:
        raise FaultError(f"{what} failed ({done.returncode}): {(done.stderr or '').strip()[-300:]}")


def sh(executor: Executor, vm: VM, script: str, timeout: float = 30) -> Any:
    return run(executor, vm, ["sh", "-c", script], timeout=timeout)


def on_all(target: Target, action: Callable[[VM], Any]) -> list[Any]:
    with ThreadPoolExecutor(len(target.vms)) as pool:
        return list(pool.map(action, target.vms))


@dataclass
class Context:
    target: Target
    executor: Executor
    backend: Any  # a faults.Backend: Docker in the lab, SSH on real VMs
    vms: list[VM]
    params: dict[str, Any] = field(default_factory=dict)
    memo: dict[str, Any] = field(default_factory=dict)
    # Marks a fault puts on the journal's timeline (name, detail), e.g. the deployment
    # a VM was killed in; set by the runner.
    note: Callable[..., None] | None = None


@dataclass(frozen=True)
class Fault:
    inject: Callable[[Context], None]
    rollback: Callable[[Context], None]
    describe: str
    # How to tell, from outside the injector, that it took effect (a rule of effects.py;
    # evidence.py gathers what the journal alone cannot show).
    effect: str
    # Why this fault cannot be made on a target (None: it can). Such an experiment
    # fails with the reason; the nemesis leaves it out of its schedule and says why.
    unsupported: Callable[[Target], str | None] | None = None

    def why_not(self, target: Target) -> str | None:
        return self.unsupported(target) if self.unsupported else None
