"""Small Python programs the suite runs on the VMs (python3 is there for Ansible).

`SAMPLER` prints one JSON line per period: who this VM's Consul and Nomad agents
name as leader and whether it holds the floating IP. `HEALTH` prints one JSON
document with everything `health.py` judges. `MEMBERS` prints this VM's Consul view
of its peers (name, address, Serf status; 4 is failed): the evidence that a VM cut
off from the others is seen failed by the majority. Both talk only to local agents, so
they see the cluster the way that VM sees it.

The agents answer over TLS only: both programs trust the VM's copy of the cluster
CA. The status endpoints need no token; `HEALTH` and `MEMBERS` read the management
tokens as one JSON line on their stdin, so they never appear on a command line in a VM.
"""

from __future__ import annotations

import json
from typing import Any

from deploy.credentials import CONSUL_API, NOMAD_API, VM_CA_FILE

_COMMON = (
    f"""
CONSUL_API, NOMAD_API, CA_FILE = {CONSUL_API!r}, {NOMAD_API!r}, {VM_CA_FILE!r}
"""
    + r"""
import json, socket, ssl, sys, time, urllib.error, urllib.request

def tls():
    try:
        return ssl.create_default_context(cafile=CA_FILE)
    except OSError:  # no CA on this VM: every HTTPS call fails, and says so
        return ssl.create_default_context()

TLS = tls()

def fetch(url, timeout, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=TLS) as answer:
            return answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc
    except Exception:
        return None

import struct

def holds(vip):
    # The address on an interface other than lo: what this VM announces and
    # answers ARP for. A local route or address on lo (a drain that keeps serving
    # what was in flight, docs/chaos.md "Findings") holds nothing. Asked of the
    # kernel by rtnetlink (RTM_GETADDR, a dump of every IPv4 address):
    # /proc/net/fib_trie lists both as "/32 host LOCAL" and cannot tell them apart.
    try:
        wanted, lo = socket.inet_aton(vip), socket.if_nametoindex("lo")
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
    except OSError:
        return False
    try:
        sock.settimeout(1)
        RTM_NEWADDR, RTM_GETADDR, NLMSG_ERROR, NLMSG_DONE = 20, 22, 2, 3
        IFA_ADDRESS, IFA_LOCAL = 1, 2
        request = struct.pack("=BBBBI", socket.AF_INET, 0, 0, 0, 0)
        sock.send(struct.pack("=IHHII", 16 + len(request), RTM_GETADDR, 0x301, 1, 0) + request)
        while True:
            data, at = sock.recv(65536), 0
            while at + 16 <= len(data):
                length, kind = struct.unpack_from("=IH", data, at)
                if kind in (NLMSG_ERROR, NLMSG_DONE) or length < 16:
                    return False
                if kind == RTM_NEWADDR and length >= 24:
                    index = struct.unpack_from("=I", data, at + 20)[0]
                    attr = at + 24
                    while attr + 4 <= at + length:
                        size, name = struct.unpack_from("=HH", data, attr)
                        if size < 4:
                            break
                        if (name in (IFA_ADDRESS, IFA_LOCAL) and index != lo
                                and data[attr + 4:attr + size] == wanted):
                            return True
                        attr += (size + 3) & ~3
                at += (length + 3) & ~3
    except OSError:
        return False
    finally:
        sock.close()
"""
)

SAMPLER = (
    _COMMON
    + r"""
def leader(url):
    body = fetch(url, 0.4)
    if body is None:
        return None
    if isinstance(body, Exception):
        return ""
    try:
        return json.loads(body or '""') or ""
    except ValueError:
        return None

import os, threading

def exit_when_stdin_closes():
    # The controller closes our stdin when it stops observing (or dies): leave then,
    # so no sampler outlives its experiment inside a VM.
    sys.stdin.read()
    os._exit(0)

threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
vip, period, lifetime = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
stop_at = time.monotonic() + lifetime
while time.monotonic() < stop_at:
    began = time.monotonic()
    # `stale`: a Nomad follower answers from its own Raft state at once. Without it
    # the question is forwarded to a leader, and with none it hangs until the
    # election is over: the sample would time out and see the new leader late.
    print(json.dumps({
        "consul": leader(CONSUL_API + "/v1/status/leader"),
        "nomad": leader(NOMAD_API + "/v1/status/leader?stale"),
        "vip": holds(vip),
    }), flush=True)
    time.sleep(max(0.0, period - (time.monotonic() - began)))
"""
)

HEALTH = (
    _COMMON
    + r"""
def api(url, headers):
    body = fetch(url, 3, headers)
    if body is None or isinstance(body, Exception):
        return {"error": str(body) if body is not None else "no answer"}
    try:
        return json.loads(body)
    except ValueError:
        return {"error": "not JSON: " + body[:100]}

def haproxy_csv(stats_url):
    try:
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(3)
        sock.connect("/run/haproxy/admin.sock")
        sock.sendall(b"show stat\n")
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
        sock.close()
        return b"".join(chunks).decode()
    except OSError:
        body = fetch(stats_url, 3)
        return body if isinstance(body, str) else None

vip, stats_url = sys.argv[1], sys.argv[2]
tokens = json.loads(sys.stdin.readline() or "{}")

def consul(path):
    return api(CONSUL_API + path, {"X-Consul-Token": tokens.get("consul", "")})

def nomad(path):
    return api(NOMAD_API + path, {"X-Nomad-Token": tokens.get("nomad", "")})

print(json.dumps({
    "consul_raft": consul("/v1/operator/raft/configuration"),
    "consul_critical": consul("/v1/health/state/critical"),
    "nomad_raft": nomad("/v1/operator/raft/configuration"),
    "nomad_nodes": nomad("/v1/nodes"),
    "nomad_jobs": nomad("/v1/jobs"),
    "nomad_allocs": nomad("/v1/allocations"),
    "haproxy": haproxy_csv(stats_url),
    "vip": holds(vip),
}))
"""
)


MEMBERS = (
    _COMMON
    + r"""
tokens = json.loads(sys.stdin.readline() or "{}")
body = fetch(CONSUL_API + "/v1/agent/members", 3, {"X-Consul-Token": tokens.get("consul", "")})
if body is None or isinstance(body, Exception):
    print(json.dumps({"error": str(body) if body is not None else "no answer"}))
else:
    try:
        print(json.dumps([{"Name": m.get("Name"), "Addr": m.get("Addr"), "Status": m.get("Status")}
                          for m in json.loads(body)]))
    except (ValueError, AttributeError, TypeError):
        print(json.dumps({"error": "not the members list: " + body[:100]}))
"""
)
SERF_FAILED = 4  # a member's Status in /v1/agent/members: 1 alive, 3 left, 4 failed
SERF_LEFT = 3


def members_command() -> list[str]:
    """Run with `health_input(...)` on stdin."""
    return ["python3", "-c", MEMBERS]


def parse_members(output: str) -> list[dict[str, Any]] | None:
    """The members list `MEMBERS` printed, or None (an error, no answer)."""
    try:
        value = json.loads(output.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None
    return value if isinstance(value, list) else None


def sampler_command(vip: str, period: float, lifetime: float) -> list[str]:
    return ["python3", "-u", "-c", SAMPLER, vip, str(period), str(lifetime)]


def health_command(vip: str, stats_url: str) -> list[str]:
    """Run with `health_input(...)` on stdin."""
    return ["python3", "-c", HEALTH, vip, stats_url]


def health_input(consul_token: str, nomad_token: str) -> str:
    """The stdin of `health_command`: the tokens its API calls send."""
    return json.dumps({"consul": consul_token, "nomad": nomad_token}) + "\n"


def parse_sample(line: str) -> dict[str, Any] | None:
    """One sampler line, or None for anything else (a traceback, a partial line)."""
    try:
        value = json.loads(line)
    except ValueError:
        return None
    if not isinstance(value, dict) or not {"consul", "nomad", "vip"} <= value.keys():
        return None
    return value
