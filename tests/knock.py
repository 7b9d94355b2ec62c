"""Knocking on TCP ports: what a VM listens on beyond loopback, and which of those
answer from a given place (this machine, a testinfra host, a lab container). The
firewall's tests (tests/infra/test_firewall.py, tests/security) share it."""

from __future__ import annotations

import ipaddress
import json
import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor
from typing import Any

KNOCK_TIMEOUT_S = 2.0
Socket = tuple[str, int]

# Run where the knock comes from (the bastion, a VM): connect to every
# (address, port) at once, say "open" or why not.
KNOCK = """
import json, socket, sys
from concurrent.futures import ThreadPoolExecutor
def knock(target):
    address, port = target
    try:
        socket.create_connection((address, port), timeout=float(sys.argv[2])).close()
        return "open"
    except OSError as exc:
        return type(exc).__name__ if exc.errno is None else f"errno {exc.errno}"
targets = json.loads(sys.argv[1])
with ThreadPoolExecutor(32) as pool:
    print(json.dumps(list(pool.map(knock, targets))))
"""


def knock_from(host: Any, targets: list[Socket]) -> dict[Socket, str]:
    answer = host.check_output(
        "python3 -c %s %s %s",
        KNOCK,
        json.dumps(targets),
        str(KNOCK_TIMEOUT_S),
    )
    return dict(zip(targets, json.loads(answer), strict=True))


def knock_here(targets: list[Socket]) -> dict[Socket, str]:
    def knock(target: Socket) -> str:
        try:
            socket.create_connection(target, timeout=KNOCK_TIMEOUT_S).close()
            return "open"
        except OSError as exc:
            return f"errno {exc.errno}"

    with ThreadPoolExecutor(32) as pool:
        return dict(zip(targets, pool.map(knock, targets), strict=True))


def listening(vm: Any, private_address: str, vip: str) -> set[Socket]:
    """(address, port) of every TCP socket this VM listens on beyond loopback; a
    wildcard socket as its private address. The floating IP is the users' business."""
    found: set[Socket] = set()
    for line in vm.check_output("ss -Htln").splitlines():
        local = line.split()[3]
        address, _, port = local.rpartition(":")
        address = address.strip("[]").removeprefix("::ffff:")
        if address in {"*", "0.0.0.0", "::"}:
            address = private_address
        elif address.split("%")[0] == vip:
            continue
        else:
            try:
                parsed = ipaddress.ip_address(address.split("%")[0])
            except ValueError:
                continue
            if parsed.is_loopback or parsed.version != 4:
                continue
        found.add((address, int(port)))
    return found


def knock_in_container(container: str, targets: list[Socket]) -> dict[Socket, str]:
    """Knock from inside a lab container (the provider)."""
    answer = subprocess.run(
        ["docker", "exec", container, "python3", "-c", KNOCK, json.dumps(targets),
         str(KNOCK_TIMEOUT_S)],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    return dict(zip(targets, json.loads(answer), strict=True))


def opened(verdicts: dict[Socket, str], want_open: bool) -> list[str]:
    """The sockets whose answer is not the one wanted, with the answer."""
    return sorted(f"{a}:{p} {v}" for (a, p), v in verdicts.items() if (v == "open") != want_open)
