"""Run a command as root on one VM: `docker exec` in the lab, `ssh` + `sudo` on real VMs;
and reach a VM's HTTPS API from the controller: directly in the lab, through an SSH
forward on real VMs (their private addresses sit behind the bastion)."""

from __future__ import annotations

import atexit
import shlex
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from chaos.target import VM, Ssh, Target


class Executor(Protocol):
    def argv(self, vm: VM, command: list[str]) -> list[str]:
        """The local argv that runs `command` as root on `vm`."""
        ...

    def api_address(self, vm: VM, port: int) -> str:
        """`https://host:port` where the controller reaches `vm`'s API on `port`."""
        ...


@dataclass(frozen=True)
class DockerExec:
    """The lab: each VM is a container that boots systemd."""

    def argv(self, vm: VM, command: list[str]) -> list[str]:
        if not vm.container:
            raise ValueError(f"{vm.name} has no container; use SSH for real VMs")
        return ["docker", "exec", "-i", vm.container, *command]

    def api_address(self, vm: VM, port: int) -> str:
        return f"https://{vm.address}:{port}"  # the lab's network is the host's


@dataclass(frozen=True)
class SshExec:
    """Real VMs: ssh through the bastion (the inventory's ProxyCommand), then sudo."""

    ssh: Ssh

    def _ssh(self, vm: VM, *extra: str) -> list[str]:
        argv = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5"]
        argv += ["-o", "ServerAliveInterval=2", "-o", "ServerAliveCountMax=3", *extra]
        if self.ssh.key:
            argv += ["-i", self.ssh.key]
        return [*argv, *self.ssh.options, f"{self.ssh.user}@{vm.address}"]

    def argv(self, vm: VM, command: list[str]) -> list[str]:
        return [*self._ssh(vm), "sudo -n " + shlex.join(command)]

    def forward_argv(self, vm: VM, local_port: int, port: int) -> list[str]:
        """ssh holding 127.0.0.1:`local_port` here to the VM's own 127.0.0.1:`port`
        (the VMs' certificates name 127.0.0.1, so TLS checks hold through it)."""
        forward = f"127.0.0.1:{local_port}:127.0.0.1:{port}"
        return self._ssh(vm, "-N", "-o", "ExitOnForwardFailure=yes", "-L", forward)

    def api_address(self, vm: VM, port: int) -> str:
        return f"https://127.0.0.1:{_forwards.port(self, vm, port)}"


FORWARD_READY_S = 15.0


class _Forwards:
    """One SSH forward per (VM, port) for the whole run, closed when the run ends."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, int], tuple[subprocess.Popen[bytes], int]] = {}
        self._lock = threading.Lock()
        atexit.register(self.close)

    def port(self, ssh: SshExec, vm: VM, port: int) -> int:
        with self._lock:
            held = self._open.get((vm.address, port))
            if held and held[0].poll() is None:
                return held[1]
            local_port = _free_port()
            process = subprocess.Popen(
                ssh.forward_argv(vm, local_port, port),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            _wait_listening(process, local_port, f"ssh forward to {vm.name}:{port}")
            self._open[(vm.address, port)] = (process, local_port)
            return local_port

    def close(self) -> None:
        with self._lock:
            for process, _ in self._open.values():
                _stop(process)
            self._open.clear()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stderr:
        process.stderr.close()


def _wait_listening(process: subprocess.Popen[bytes], port: int, what: str) -> None:
    deadline = time.monotonic() + FORWARD_READY_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            said = (process.stderr.read() if process.stderr else b"").decode()[-300:]
            _stop(process)
            raise OSError(f"{what} ended (exit {process.returncode}): {said.strip()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    _stop(process)
    raise OSError(f"{what} not listening within {FORWARD_READY_S:g} s")


_forwards = _Forwards()


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
