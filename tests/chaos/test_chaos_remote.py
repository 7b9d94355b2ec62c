"""How the controller reaches a VM's API: the lab's address directly; real VMs through
one SSH forward per VM and port, reused, and a forward that fails names why.

The forward's command is replaced by a real local listener (a Python one-liner that
holds the port ssh would): what is under test is the lifecycle, not OpenSSH."""

from __future__ import annotations

import socket
import sys

import pytest

from chaos import remote
from chaos.target import VM, Ssh

VM1 = VM("vm1", "10.0.0.11", None)
SSH = Ssh("deploy", "/keys/id", ("-o", "ProxyJump=bastion"))

LISTEN = (
    "import socket, sys, time\n"
    "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen()\n"
    "while True: s.accept()[0].close()\n"
)


class ListeningSsh(remote.SshExec):
    """SshExec whose forward is a local listener on the port ssh would hold."""

    def forward_argv(self, vm: VM, local_port: int, port: int) -> list[str]:
        return [sys.executable, "-c", LISTEN, str(local_port)]


class FailingSsh(remote.SshExec):
    def forward_argv(self, vm: VM, local_port: int, port: int) -> list[str]:
        return [sys.executable, "-c", "import sys; sys.exit('Permission denied (publickey)')"]


def test_the_lab_reaches_a_vm_s_api_at_its_address():
    assert remote.DockerExec().api_address(VM1, 4646) == "https://10.0.0.11:4646"


def test_the_forward_holds_a_local_port_to_the_vm_s_own_loopback():
    argv = remote.SshExec(SSH).forward_argv(VM1, 40001, 4646)
    assert argv[0] == "ssh" and argv[-1] == "deploy@10.0.0.11"
    assert "-N" in argv and "ExitOnForwardFailure=yes" in argv
    assert argv[argv.index("-L") + 1] == "127.0.0.1:40001:127.0.0.1:4646"
    assert argv[argv.index("-i") + 1] == "/keys/id" and "ProxyJump=bastion" in argv


def test_a_forward_is_opened_once_and_answers():
    ssh = ListeningSsh(SSH)
    try:
        first = ssh.api_address(VM1, 4646)
        assert first.startswith("https://127.0.0.1:")
        port = int(first.rsplit(":", 1)[1])
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        assert ssh.api_address(VM1, 4646) == first
        assert ssh.api_address(VM1, 8501) != first  # another port, another forward
    finally:
        remote._forwards.close()


def test_a_forward_that_ends_says_why():
    with pytest.raises(OSError, match=r"ended .*Permission denied"):
        FailingSsh(SSH).api_address(VM1, 4646)
