"""Helpers of the lab's test lane: run the CLI, SSH like Ansible does, docker."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def lab_cli(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    """Run `python -m lab ...` as a user would, from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "lab", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def ssh(
    ssh_config: Path, host: str, command: str, *, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run `command` on a lab host through the bastion (the generated ssh_config)."""
    return subprocess.run(
        ["ssh", "-F", str(ssh_config), "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
         host, command],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )  # fmt: skip


def docker(*args: str, timeout: float = 300) -> str:
    proc = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=True
    )
    return proc.stdout.strip()


def port_refused(address: str, port: int = 22) -> bool:
    """True when a TCP connection is refused or reset before any banner."""
    try:
        with socket.create_connection((address, port), timeout=5) as sock:
            sock.settimeout(5)
            return sock.recv(64) == b""
    except (ConnectionRefusedError, ConnectionResetError):
        return True
