"""Run a command as root on one VM: `docker exec` in the lab, `ssh` + `sudo` on real VMs."""

from __future__ import annotations

import shlex
import subprocess
from dataclasses import dataclass
from typing import Protocol

from chaos.target import VM, Ssh, Target


class Executor(Protocol):
    def argv(self, vm: VM, command: list[str]) -> list[str]:
        """The local argv that runs `command` as root on `vm`."""
        ...


@dataclass(frozen=True)
class DockerExec:
    """The lab: each VM is a container that boots systemd."""

    def argv(self, vm: VM, command: list[str]) -> list[str]:
        if not vm.container:
            raise ValueError(f"{vm.name} has no container; use SSH for real VMs")
        return ["docker", "exec", "-i", vm.container, *command]


@dataclass(frozen=True)
class SshExec:
    """Real VMs: ssh through the bastion (the inventory's ProxyCommand), then sudo."""

    ssh: Ssh

    def argv(self, vm: VM, command: list[str]) -> list[str]:
        argv = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5"]
        argv += ["-o", "ServerAliveInterval=2", "-o", "ServerAliveCountMax=3"]
        if self.ssh.key:
            argv += ["-i", self.ssh.key]
        argv += [*self.ssh.options, f"{self.ssh.user}@{vm.address}"]
        return [*argv, "sudo -n " + shlex.join(command)]


def executor_for(target: Target) -> Executor:
    return SshExec(target.ssh) if target.ssh else DockerExec()


def run(
    executor: Executor, vm: VM, command: list[str], timeout: float = 30, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run and capture; never raises on a non-zero exit or a timeout (returns code 124)."""
    argv = executor.argv(vm, command)
    try:
        return subprocess.run(
            argv, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(argv, 124, "", f"timed out after {timeout} s")


def local(argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """A command on the controller (docker kill/start/pause...), captured, never raising."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(argv, 124, "", f"timed out after {timeout} s")
