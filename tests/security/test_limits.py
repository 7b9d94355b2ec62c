"""Abuse limits at HAProxy, through the floating IP (docs/security.md#abuse-limits-at-haproxy).

Two clients with different source addresses: this controller, and the bastion
(over SSH, with its own python3). The controller pushes one limit until HAProxy
refuses it, and stops there; the bastion is served in the same window. The
limits come from the inventory, or the role's defaults where it sets none, so
the tests follow what is deployed. Each test waits until the VMs' counters are
back to zero, so the lanes after this one start unthrottled. Requests go over HTTPS
(port 443), as users' do, the certificate checked against the site's CA; plain HTTP on
the floating IP only redirects.
"""

from __future__ import annotations

import json
import re
import shlex
import socket
import ssl
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import httpx
import pytest
from chunked import MB, stream_upload
from imgcloud.config import Settings

from deploy.site import tls_context
from deploy.smoke import png

pytestmark = [pytest.mark.lab, pytest.mark.slow]

# A counter of a table entry that is not zero while anyone is still being counted.
_COUNTER = re.compile(r"(?:conn_cur|http_req_rate\(\d+\))=(\d+)")

_DURATION = re.compile(r"(\d+)(ms|s|m|h)?")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 0.001}

# Run on a VM as root: both limit tables, as HAProxy's stats socket prints them.
_SHOW_TABLES = """
import socket
for table in ("st_clients", "st_uploads", "st_signins"):
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect("/run/haproxy/admin.sock")
        sock.sendall(f"show table {table}\\n".encode())
        while chunk := sock.recv(65536):
            print(chunk.decode(), end="")
"""


@dataclass(frozen=True)
class Limits:
    period: int
    requests: int
    uploads: int
    signins: int
    body: int
    conns: int
    headers_s: float  # time a client has to send its request headers


@pytest.fixture(scope="module")
def limits(haproxy_setting: Callable[[str], str]) -> Limits:
    """The limits the VMs run with: the inventory's values, else the role's defaults."""
    return Limits(
        period=int(haproxy_setting("haproxy_rate_limit_period")),
        requests=int(haproxy_setting("haproxy_rate_limit_requests")),
        uploads=int(haproxy_setting("haproxy_rate_limit_uploads")),
        signins=int(haproxy_setting("haproxy_rate_limit_signins")),
        body=int(haproxy_setting("haproxy_max_body_size")),
        conns=int(haproxy_setting("haproxy_max_conn_per_client")),
        headers_s=_seconds(haproxy_setting("haproxy_timeout_http_request")),
    )


def _seconds(text: str) -> float:
    """An HAProxy time (`10s`, `500ms`; a bare number is milliseconds) in seconds."""
    found = _DURATION.fullmatch(text)
    assert found, f"not an HAProxy time: {text!r}"
    return int(found[1]) * _UNIT_S[found[2]]


@pytest.fixture(scope="module")
def other_client(vip: str, from_bastion: Callable[[str], str]) -> Callable[[str], int]:
    """A second client from another address (the bastion): GET a path, return the status."""
    return lambda path: int(from_bastion(f"https://{vip}{path}").split()[0])


@pytest.fixture(scope="module")
def tls(site_ca: Path | None) -> ssl.SSLContext:
    """How this controller's raw sockets check the floating IP's certificate."""
    return tls_context(site_ca)


@pytest.fixture
def clean_limiter(vms: dict[str, Any], limits: Limits) -> Iterator[None]:
    """Counters at zero before the test (so counts are exact) and after it (for later lanes).

    Only the tests that push a limit need it: a handful of requests throttles nobody.
    """
    _wait_until_clean(vms, limits)
    yield
    _wait_until_clean(vms, limits)


def _wait_until_clean(vms: dict[str, Any], limits: Limits) -> None:
    """Until no VM counts a request or a connection for anyone: two periods at most."""
    patience = 3 * limits.period + 30
    deadline = time.monotonic() + patience
    while (busy := _busy_entries(vms)) and time.monotonic() < deadline:
        time.sleep(1)
    assert not busy, f"limit counters not back to zero after {patience} s: {busy}"


def _busy_entries(vms: dict[str, Any]) -> list[str]:
    """Table entries, on any VM, with a request rate or an open connection."""
    busy = []
    for name, vm in vms.items():
        for line in vm.check_output(f"python3 -c {shlex.quote(_SHOW_TABLES)}").splitlines():
            if any(int(n) for n in _COUNTER.findall(line)):
                busy.append(f"{name}: {line.strip()}")
    return busy


def _burst_until_refused(
    client: httpx.Client, method: str, path: str, limit: int, period: int
) -> tuple[httpx.Response, int]:
    """Send requests back to back until the first 429; the answer and how many were sent."""
    most, started = 3 * limit, time.monotonic()
    for sent in range(1, most + 1):
        answer = client.request(method, path)
        if answer.status_code == 429:
            return answer, sent
    elapsed = time.monotonic() - started
    pytest.fail(
        f"{most} {method} {path} in {elapsed:.1f} s ({most / elapsed:.0f}/s) were all served: "
        f"the limit is {limit} per {period} s"
    )


@pytest.mark.parametrize(
    ("method", "path", "limit"),
    [
        ("GET", "/healthz", "requests"),
        # An upload without a file: the backend refuses it cheaply, HAProxy counts it.
        ("POST", "/api/images", "uploads"),
        # A sign-in that is not JSON: the backend refuses it cheaply (415).
        ("POST", "/api/session", "signins"),
    ],
)
@pytest.mark.usefixtures("clean_limiter")
def test_a_client_past_the_rate_limit_gets_429_while_another_is_served(
    client: httpx.Client,
    other_client: Callable[[str], int],
    limits: Limits,
    method: str,
    path: str,
    limit: str,
) -> None:
    allowed = getattr(limits, limit)
    answer, sent = _burst_until_refused(client, method, path, allowed, limits.period)
    refused_at = time.monotonic()
    assert sent > allowed, f"refused after {sent} requests, below the limit of {allowed}"
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json()["error"]
    assert answer.headers["Retry-After"] == str(limits.period)
    assert other_client("/healthz") == 200
    assert time.monotonic() - refused_at < limits.period, "the other client came too late"


@pytest.mark.usefixtures("clean_limiter")
def test_the_upload_limit_leaves_reading_alone(client: httpx.Client, limits: Limits) -> None:
    _burst_until_refused(client, "POST", "/api/images", limits.uploads, limits.period)
    assert client.get("/healthz").status_code == 200


def _raw_answer(vip: str, request: bytes, tls: ssl.SSLContext | None) -> bytes:
    """Everything the server sends back to `request` until it closes the connection:
    over TLS on port 443 with `tls` (the certificate checked), over plain TCP on port 80
    with None. A certificate that fails the check is an error, never an empty answer."""
    received = b""
    try:
        with socket.create_connection((vip, 443 if tls else 80), timeout=15) as raw:
            sock = tls.wrap_socket(raw, server_hostname=vip) if tls else raw
            with sock:
                sock.sendall(request)
                while chunk := sock.recv(65536):
                    received += chunk
    except ConnectionResetError:  # closed with our request unread, even while connecting
        pass
    except ssl.SSLEOFError:  # closed without TLS's goodbye, or before the handshake ended
        pass
    return received


def test_a_declared_body_above_the_limit_gets_413_before_it_is_sent(
    vip: str, limits: Limits, tls: ssl.SSLContext
) -> None:
    head = (
        f"POST /api/images HTTP/1.1\r\nHost: {vip}\r\n"
        "Content-Type: multipart/form-data; boundary=x\r\n"
        f"Content-Length: {limits.body + 1}\r\n\r\n"
    )
    answer = _raw_answer(vip, head.encode(), tls)
    status, _, rest = answer.partition(b"\r\n")
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert status.split()[1] == b"413", answer[:300]
    assert b"content-type: application/json" in headers.lower()
    assert json.loads(body)["error"]


@pytest.fixture(scope="module")
def backend_limit(hostvars: dict[str, dict[str, Any]], cluster_names: list[str]) -> int:
    """The backends' IMGCLOUD_MAX_UPLOAD_BYTES: the inventory's imgcloud_env, else the
    service's default."""
    given = (hostvars[cluster_names[0]].get("imgcloud_env") or {}).get("IMGCLOUD_MAX_UPLOAD_BYTES")
    default = next(f.default for f in fields(Settings) if f.name == "max_upload_bytes")
    return int(given) if given else int(default)


def test_a_chunked_upload_past_the_limit_gets_413_while_it_streams(
    vip: str, client: httpx.Client, api_token: str, tls: ssl.SSLContext, backend_limit: int
) -> None:
    # No Content-Length, so HAProxy passes it on; the backend counts the bytes as they
    # arrive and answers while the client is still sending. Nothing is stored. The client
    # looks for that answer after each chunk past the backend's limit, as curl does: one
    # that keeps sending is reset by HAProxy 2.6 after the answer, often before it reads
    # it over TLS (docs/security.md).
    name = f"chunked-{uuid.uuid4().hex[:12]}.jpg"
    total = 60 * MB
    huge = b"\xff\xd8\xff\xe0" + bytes(total - 4)
    status, body, sent = stream_upload(
        f"https://{vip}:443", huge, backend_limit, name, token=api_token, context=tls
    )
    assert (status, body.get("reason")) == (413, "too_large"), body
    assert sent < total, f"the answer came only after all {sent / MB:.0f} MB were sent"
    assert body["request_id"]
    listed = client.get("/api/images", params={"limit": 100}).json()["images"]
    assert name not in {image["filename"] for image in listed}


def test_a_normal_upload_is_still_accepted(client: httpx.Client) -> None:
    answer = client.post("/api/images", files={"file": ("ok.png", png(320, 240), "image/png")})
    assert answer.status_code == 202, answer.text
    client.delete(f"/api/images/{answer.json()['id']}")


@pytest.mark.usefixtures("clean_limiter")
def test_connections_past_the_per_client_limit_are_closed(
    vip: str,
    vms: dict[str, Any],
    other_client: Callable[[str], int],
    limits: Limits,
    tls: ssl.SSLContext,
) -> None:
    # Held as bare TCP connections (on port 80: counted by the same frontend as 443,
    # and idle out after the same 10 s, no TLS handshake left pending).
    held = [socket.create_connection((vip, 80), timeout=15) for _ in range(limits.conns)]
    try:
        _wait_for_open_connections(vms, limits.conns)
        # Sent but never answered: HAProxy closes the connection on accepting it, on
        # HTTPS (before the handshake ends) as on plain HTTP.
        request = f"GET /healthz HTTP/1.1\r\nHost: {vip}\r\n\r\n".encode()
        assert _raw_answer(vip, request, tls) == b""
        assert _raw_answer(vip, request, None) == b""
        assert other_client("/healthz") == 200
    finally:
        for sock in held:
            sock.close()


def _wait_for_open_connections(vms: dict[str, Any], count: int) -> None:
    """Until one client has `count` connections open on the VM holding the floating IP."""
    deadline = time.monotonic() + 8  # the held connections idle out after 10 s
    most = 0
    while time.monotonic() < deadline:
        for vm in vms.values():
            text = vm.check_output(f"python3 -c {shlex.quote(_SHOW_TABLES)}")
            most = max([most, *(int(n) for n in re.findall(r"conn_cur=(\d+)", text))])
        if most >= count:
            return
        time.sleep(0.2)
    pytest.fail(f"HAProxy counted at most {most} of the {count} open connections")


def test_a_request_whose_headers_never_end_is_cut_off(
    vip: str, limits: Limits, tls: ssl.SSLContext
) -> None:
    started = time.monotonic()
    request = f"GET /healthz HTTP/1.1\r\nHost: {vip}\r\nX-Slow: 1\r\n".encode()
    answer = _raw_answer(vip, request, tls)
    waited = time.monotonic() - started
    assert answer.split(b"\r\n", 1)[0].split()[1] == b"408", answer[:300]
    assert limits.headers_s - 1 < waited < limits.headers_s + 5
