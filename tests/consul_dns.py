"""Asking a VM's Consul DNS (127.0.0.1:8600) what HAProxy's resolvers ask, anonymously.

The query runs on the VM with nothing but its python3, over testinfra's connection;
it sees exactly what any process on the VM without a token sees.
"""

from __future__ import annotations

from typing import Any

A, SRV = 1, 33

# Sends one query of the given type; prints the answer count and the response code.
_QUERY = """
import socket, struct, sys
name, qtype = sys.argv[1], int(sys.argv[2])
query = struct.pack(">HHHHHH", 0x2b, 0x0100, 1, 0, 0, 0)
query += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\\0"
query += struct.pack(">HH", qtype, 1)
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.settimeout(3)
sock.sendto(query, ("127.0.0.1", 8600))
reply = sock.recv(4096)
assert reply[:2] == query[:2], "a reply to another query"
print(struct.unpack(">H", reply[6:8])[0], reply[3] & 0x0F)
"""


def lookup(vm: Any, name: str, qtype: int) -> tuple[int, int]:
    """(answer count, response code) of an anonymous query for `name` on the VM."""
    out = vm.check_output("python3 -c %s %s %s", _QUERY, name, str(qtype))
    answers, rcode = (int(field) for field in out.split())
    return answers, rcode
