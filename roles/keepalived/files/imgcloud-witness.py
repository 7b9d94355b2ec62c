#!/usr/bin/python3
"""Which Consul servers are alive, as the provider's S3 sees them: the witness that
lets the floating IP survive two dead VMs without a split brain when one is cut off.

Three VMs cannot tell "my two peers died" from "I am cut off from them" on their
own: both look like peers that do not answer. The provider's S3 sits outside the
VMs' private network and is reached by each of them directly, so every second
each VM writes a heartbeat object there (`<prefix><its name>`) and reads its
peers'. A peer whose heartbeat changed in the last `stale_after` seconds (by this
VM's monotonic clock: no clock of another machine is trusted, and a jump of the
wall clock does not matter) is alive, reachable or not.

The VIP check (check_vip.sh) then asks for a majority of the LIVING servers: a VM
cut off from two living peers has 1 of 3 and lets the address go; the last VM
alive, whose peers' heartbeats stopped, has 1 of 1 and keeps serving. When S3
cannot be reached the answer says so, and the check falls back to a majority of
all servers (Raft's own rule).

It also asks the local Consul agent for its Raft leader every period, over one
kept-alive HTTPS connection: the check runs every second, and a curl with a TLS
handshake each time was most of the CPU the floating IP cost (measured in the lab:
the check's processes 43 ms of CPU a second per VM before, docs/load.md).

Writes `status_file` every period as shell assignments the check sources:
WITNESS_AT=<unix time written>, WITNESS_S3=yes|no, WITNESS_LIVING=<how many alive>,
WITNESS_ALIVE="<names>", WITNESS_CONSUL=yes|no|unknown (the agent answered, did
not, or was not asked lately) and WITNESS_LEADER=<its answer>. Standard library
only (the VMs have python3 for Ansible); S3 requests are signed with AWS Signature
Version 4.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import http.client
import json
import os
import socket
import ssl
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request


def _sign(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


class S3:
    """Just enough of S3 for heartbeats: PUT and HEAD of small objects, path-style."""

    def __init__(self, endpoint: str, bucket: str, access: str, secret: str, region: str) -> None:
        self.endpoint, self.bucket = endpoint.rstrip("/"), bucket
        self.access, self.secret, self.region = access, secret, region
        self.host = urllib.parse.urlsplit(self.endpoint).netloc

    def _request(self, method: str, key: str, body: bytes = b"") -> tuple[int, dict[str, str]]:
        now = datetime.datetime.now(datetime.UTC)
        stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        path = "/" + urllib.parse.quote(f"{self.bucket}/{key}")
        payload = hashlib.sha256(body).hexdigest()
        headers = {"host": self.host, "x-amz-content-sha256": payload, "x-amz-date": stamp}
        signed = ";".join(sorted(headers))
        canonical = "\n".join(
            [method, path, "", *(f"{k}:{headers[k]}" for k in sorted(headers)), "", signed, payload]
        )
        scope = f"{day}/{self.region}/s3/aws4_request"
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        key_bytes = _sign(("AWS4" + self.secret).encode(), day)
        for part in (self.region, "s3", "aws4_request"):
            key_bytes = _sign(key_bytes, part)
        signature = hmac.new(key_bytes, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.access}/{scope}, "
            f"SignedHeaders={signed}, Signature={signature}"
        )
        request = urllib.request.Request(
            self.endpoint + path, data=body if method == "PUT" else None, method=method
        )
        for name, value in headers.items():
            if name != "host":
                request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=2) as answer:
                return answer.status, dict(answer.headers)
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers)

    def put(self, key: str, body: bytes) -> bool:
        status, _ = self._request("PUT", key, body)
        return status == 200

    def etag(self, key: str) -> str | None:
        """The object's ETag, "" when it does not exist; raises when S3 cannot answer."""
        status, headers = self._request("HEAD", key)
        if status == 404:
            return ""
        if status != 200:
            raise OSError(f"HEAD {key}: {status}")
        return headers.get("ETag", "")


class ConsulLeader:
    """The local agent's answer to /v1/status/leader, asked in a thread of its own so
    a hanging agent never holds up the heartbeats."""

    FRESH_S = 2.0  # an answer older than this is not passed on: the check asks itself
    TIMEOUT_S = 0.5  # as the check's own curl

    def __init__(self, url: str, cafile: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.host, self.port, self.path = parts.hostname or "127.0.0.1", parts.port, parts.path
        self.context = ssl.create_default_context(cafile=cafile)
        self.connection: http.client.HTTPSConnection | None = None
        self.lock = threading.Lock()
        self.answered: bool | None = None  # None: not asked yet
        self.leader, self.at = "", 0.0

    def ask(self) -> tuple[bool, str]:
        if self.connection is None:
            self.connection = http.client.HTTPSConnection(
                self.host, self.port, timeout=self.TIMEOUT_S, context=self.context
            )
        try:
            self.connection.request("GET", self.path)
            answer = self.connection.getresponse()
            body = answer.read(200).decode(errors="replace")
        except (OSError, http.client.HTTPException):
            self.connection.close()
            self.connection = None  # a new connection next time
            return False, ""
        return answer.status == 200, body.strip() if answer.status == 200 else ""

    def watch(self, period: float) -> None:
        while True:
            began = time.monotonic()
            answered, leader = self.ask()
            with self.lock:
                self.answered, self.leader, self.at = answered, leader, time.monotonic()
            time.sleep(max(0.0, period - (time.monotonic() - began)))

    def shell(self) -> str:
        """WITNESS_CONSUL and WITNESS_LEADER for the status file."""
        with self.lock:
            answered, leader, at = self.answered, self.leader, self.at
        if answered is None or time.monotonic() - at > self.FRESH_S:
            return "WITNESS_CONSUL=unknown\nWITNESS_LEADER=''\n"
        # Only what a leader's address is made of: the check sources this file.
        safe = "".join(c for c in leader if c.isalnum() or c in '.:[]"-')
        return f"WITNESS_CONSUL={'yes' if answered else 'no'}\nWITNESS_LEADER='{safe}'\n"


def write_status(path: str, s3_ok: bool, alive: list[str], consul: ConsulLeader | None) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as out:
        out.write(
            f"WITNESS_AT={int(time.time())}\n"
            f"WITNESS_S3={'yes' if s3_ok else 'no'}\n"
            f"WITNESS_LIVING={len(alive)}\n"
            f'WITNESS_ALIVE="{" ".join(sorted(alive))}"\n'
            + (consul.shell() if consul else "WITNESS_CONSUL=unknown\nWITNESS_LEADER=''\n")
        )
    os.replace(tmp, path)


def answer_knocks(address: str, port: int) -> None:
    """Accept and close connections: the VIP checks of the peers knock here to see
    that this VM is reachable, whatever else (Consul, Nomad) runs on it or not."""
    with socket.create_server((address, port), reuse_port=False) as server:
        while True:
            connection, _ = server.accept()
            connection.close()


def main(config_path: str) -> None:
    with open(config_path) as config_file:
        config = json.load(config_file)
    if config.get("listen_port"):
        threading.Thread(
            target=answer_knocks,
            args=(config.get("listen_address", "0.0.0.0"), int(config["listen_port"])),
            daemon=True,
        ).start()
    s3 = S3(
        config["endpoint"], config["bucket"], config["access_key"], config["secret_key"],
        config.get("region", "us-east-1"),
    )  # fmt: skip
    me, peers = config["name"], list(config["peers"])
    prefix, period = config.get("prefix", "witness/"), float(config.get("period", 1.0))
    consul = None
    if config.get("consul_leader_url"):
        consul = ConsulLeader(config["consul_leader_url"], config["consul_ca"])
        threading.Thread(target=consul.watch, args=(period,), daemon=True).start()
    stale_after = float(config.get("stale_after", 3.5))
    started = time.monotonic()
    seen: dict[str, str | None] = dict.fromkeys(peers)
    changed = dict.fromkeys(peers, started)  # alive until shown otherwise
    beat = 0
    while True:
        began = time.monotonic()
        beat += 1
        try:
            s3_ok = s3.put(prefix + me, f"{me} {beat} {time.time():.3f}\n".encode())
            for peer in peers:
                tag = s3.etag(prefix + peer)
                if tag != seen[peer]:
                    seen[peer], changed[peer] = tag, time.monotonic()
        except OSError as error:  # URLError, timeouts, 5xx: S3 cannot witness now
            print(f"witness: S3 unreachable: {error}", file=sys.stderr, flush=True)
            s3_ok = False
        now = time.monotonic()
        alive = [me, *(p for p in peers if now - changed[p] < stale_after)]
        write_status(config["status_file"], s3_ok, alive, consul)
        time.sleep(max(0.0, period - (time.monotonic() - began)))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/etc/imgcloud/witness.json")
