"""HTTPS for users on the floating IP: the certificate, the protocols, the redirect from
plain HTTP, HSTS, and a new certificate taken without a reload or a dropped request.

From this controller, as users' clients see it; the certificate is checked against
the CA that issued it (deploy.site), never skipped.
"""

from __future__ import annotations

import http.client
import re
import shlex
import socket
import ssl
import subprocess
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from deploy import ROOT
from deploy.ansible import run_playbook
from deploy.credentials import secrets_dir
from deploy.site import OWN_CERTIFICATE_VARS, tls_context

pytestmark = pytest.mark.lab

HTTPS_PORT = 443
CERTIFICATE_PLAYBOOK = ROOT / "playbooks" / "certificate.yml"
ONE_YEAR_S = 365 * 86400

# On a VM: the worker HAProxy runs now (a reload starts another), and the serial of
# the certificate it serves on loopback (the name is the floating IP's, not checked).
WORKER_PID = """
import socket
with socket.socket(socket.AF_UNIX) as conn:
    conn.connect("/run/haproxy/admin.sock")
    conn.sendall(b"show info\\n")
    conn.shutdown(socket.SHUT_WR)
    info = b"".join(iter(lambda: conn.recv(65536), b"")).decode()
print(next(line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("Pid:")))
"""
SERVED_SERIAL = """
import socket, ssl
context = ssl.create_default_context(cafile="/etc/imgcloud/tls/ca.pem")
context.check_hostname = False
with socket.create_connection(("127.0.0.1", 443), timeout=5) as raw:
    with context.wrap_socket(raw) as tls:
        print(tls.getpeercert()["serialNumber"])
"""


@pytest.fixture(scope="module")
def context(site_ca: Path | None) -> ssl.SSLContext:
    return tls_context(site_ca)


def handshake(vip: str, context: ssl.SSLContext) -> ssl.SSLSocket:
    raw = socket.create_connection((vip, HTTPS_PORT), timeout=10)
    return context.wrap_socket(raw, server_hostname=vip)


def offering(site_ca: Path | None, protocols: list[str]) -> ssl.SSLContext:
    """The checking context, offering these ALPN protocols."""
    offered = tls_context(site_ca)
    offered.set_alpn_protocols(protocols)
    return offered


def test_the_floating_ip_presents_a_certificate_for_its_address(
    vip: str, context: ssl.SSLContext
) -> None:
    with handshake(vip, context) as tls:
        cert = tls.getpeercert()
        version = tls.version()
    assert ("IP Address", vip) in cert["subjectAltName"]
    assert version in ("TLSv1.2", "TLSv1.3")


@pytest.mark.parametrize(
    ("offered", "chosen"), [(["h2", "http/1.1"], "h2"), (["http/1.1"], "http/1.1")]
)
def test_http2_and_http1_1_are_both_served(
    vip: str, site_ca: Path | None, offered: list[str], chosen: str
) -> None:
    with handshake(vip, offering(site_ca, offered)) as tls:
        assert tls.selected_alpn_protocol() == chosen


def test_the_page_and_the_api_answer_over_http2(
    vip: str, site_ca: Path | None, api_token: str
) -> None:
    headers = {"Authorization": f"Bearer {api_token}"}
    with httpx.Client(
        base_url=f"https://{vip}",
        http2=True,
        verify=tls_context(site_ca),
        headers=headers,
        timeout=15,
    ) as http2:
        page, listing = http2.get("/"), http2.get("/api/images")
    assert (page.status_code, page.http_version) == (200, "HTTP/2")
    assert (listing.status_code, listing.http_version) == (200, "HTTP/2")
    assert "images" in listing.json()


def test_tls_older_than_1_2_is_refused(vip: str) -> None:
    # A client willing to speak only TLS 1.0 and 1.1 (its own checks set aside: what is
    # asked here is whether the server agrees to talk at all).
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname, old.verify_mode = False, ssl.CERT_NONE
    old.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():  # Python deprecates them too: that is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        old.minimum_version, old.maximum_version = ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1
    with pytest.raises(ssl.SSLError) as refused, handshake(vip, old):
        pass
    assert refused.value.reason == "TLSV1_ALERT_PROTOCOL_VERSION", refused.value


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_plain_http_on_the_floating_ip_is_sent_to_https(vip: str, method: str) -> None:
    answer = httpx.request(method, f"http://{vip}/api/images?page=2", timeout=10)
    assert answer.status_code == 308  # the method and body kept
    assert answer.headers["location"] == f"https://{vip}/api/images?page=2"
    assert "strict-transport-security" not in answer.headers  # meaningless over HTTP


@pytest.mark.parametrize(
    ("path", "status"), [("/", 200), ("/api/images", 200), ("/healthz", 200), ("/readyz", 404)]
)
def test_every_https_answer_says_strict_transport_security(
    client: httpx.Client, haproxy_setting: Callable[[str], str], path: str, status: int
) -> None:
    assert client.base_url.scheme == "https"
    answer = client.get(path)
    assert answer.status_code == status
    hsts = answer.headers["strict-transport-security"]
    assert hsts == haproxy_setting("haproxy_hsts")
    max_age = re.search(r"max-age=(\d+)", hsts)
    assert max_age and int(max_age.group(1)) >= ONE_YEAR_S


class Clients:
    """Steady HTTPS traffic to the floating IP while the certificate changes: one
    kept-alive HTTP/1.1 connection that must never be closed under it, an HTTP/2
    client, and a new connection (a new handshake) per request. Every failure kept."""

    def __init__(self, vip: str, site_ca: Path | None) -> None:
        # A context each: httpx sets its ALPN protocols (h2) on the one it is given.
        self.vip, self.site_ca = vip, site_ca
        self.counts = {"kept-alive": 0, "http2": 0, "new connection": 0}
        self.failures: list[str] = []
        self.serials: list[str] = []  # of the new connections' certificates, in order
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._guarded, args=(work,), daemon=True)
            for work in (self._kept_alive, self._http2, self._new_connections)
        ]

    def __enter__(self) -> Clients:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def wait_for(self, more: int, timeout_s: float = 60) -> None:
        """Until every client has made `more` requests from now on (or one failed)."""
        wanted = {name: count + more for name, count in self.counts.items()}
        deadline = time.monotonic() + timeout_s
        while any(self.counts[n] < wanted[n] for n in wanted) and not self.failures:
            assert time.monotonic() < deadline, f"too little traffic: {self.counts}"
            time.sleep(0.1)

    def _guarded(self, work: Callable[[], None]) -> None:
        try:
            work()
        except Exception as exc:  # a dead thread must show as a failure, not as quiet
            self.failures.append(f"{work.__name__}: {type(exc).__name__}: {exc}")

    def _kept_alive(self) -> None:
        context = offering(self.site_ca, ["http/1.1"])
        conn = http.client.HTTPSConnection(self.vip, HTTPS_PORT, timeout=10, context=context)
        try:
            while not self._stop.is_set():
                conn.request("GET", "/healthz")
                answer = conn.getresponse()
                answer.read()
                if answer.status != 200 or answer.will_close:
                    self.failures.append(
                        f"kept-alive: {answer.status}, closing {answer.will_close}"
                    )
                    return
                self.counts["kept-alive"] += 1
                time.sleep(0.05)
        finally:
            conn.close()

    def _http2(self) -> None:
        context = tls_context(self.site_ca)
        with httpx.Client(http2=True, verify=context, timeout=10) as http2:
            while not self._stop.is_set():
                answer = http2.get(f"https://{self.vip}/healthz")
                if (answer.status_code, answer.http_version) != (200, "HTTP/2"):
                    self.failures.append(f"http2: {answer.status_code} {answer.http_version}")
                self.counts["http2"] += 1
                time.sleep(0.05)

    def _new_connections(self) -> None:
        context = offering(self.site_ca, ["http/1.1"])
        while not self._stop.is_set():
            with handshake(self.vip, context) as tls:
                self.serials.append(tls.getpeercert()["serialNumber"])
                tls.sendall(f"GET /healthz HTTP/1.1\r\nHost: {self.vip}\r\n\r\n".encode())
                status_line = _status_line(tls)
            if status_line.split(b" ")[1:2] != [b"200"]:
                self.failures.append(f"new connection: {status_line!r}")
            self.counts["new connection"] += 1
            time.sleep(0.1)


def _status_line(tls: ssl.SSLSocket) -> bytes:
    """The answer's first line, however the records split it; what came if it ended first."""
    seen = b""
    while b"\r\n" not in seen:
        chunk = tls.recv(4096)
        if not chunk:
            return seen
        seen += chunk
    return seen.split(b"\r\n", 1)[0]


def _on_every_vm(vms: dict[str, Any], program: str) -> dict[str, str]:
    return {
        name: vm.check_output(f"python3 -c {shlex.quote(program)}").strip()
        for name, vm in vms.items()
    }


def _file_serial(certificate: Path) -> str:
    said = subprocess.run(
        ["openssl", "x509", "-noout", "-serial", "-in", str(certificate)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return said.strip().split("=", 1)[1].upper()


@pytest.fixture
def rotation(
    inventory: Path, hostvars: dict[str, dict[str, Any]], cluster_names: list[str]
) -> Iterator[Path]:
    """The controller's file of the cluster CA's certificate for the floating IP (the
    inventory gives none of its own, as in the lab)."""
    first = hostvars[cluster_names[0]]
    if any(first.get(name) for name in OWN_CERTIFICATE_VARS):
        pytest.fail("this inventory gives its own certificate: rotate it with your CA and rerun")
    yield secrets_dir(first, inventory) / "tls" / "site.pem"


def test_a_new_certificate_is_served_without_a_reload_or_a_dropped_request(
    inventory: Path, vip: str, site_ca: Path | None, vms: dict[str, Any], rotation: Path
) -> None:
    old_serial = _file_serial(rotation)
    workers = _on_every_vm(vms, WORKER_PID)
    assert set(_on_every_vm(vms, SERVED_SERIAL).values()) == {old_serial}
    with Clients(vip, site_ca) as clients:
        clients.wait_for(more=20)
        # Within 400 days of expiry is always true of a 397-day certificate: renew now.
        run = run_playbook(CERTIFICATE_PLAYBOOK, inventory, ["-e", "cluster_ca_renew_days=400"])
        assert run.returncode == 0, "playbooks/certificate.yml failed (see its output above)"
        new_serial = _file_serial(rotation)
        assert new_serial != old_serial, "the playbook issued no new certificate"
        deadline = time.monotonic() + 30
        while not clients.serials or clients.serials[-1] != new_serial:
            assert time.monotonic() < deadline, f"the floating IP still serves {old_serial}"
            time.sleep(0.2)
        clients.wait_for(more=20)
    assert clients.failures == []
    assert min(clients.counts.values()) >= 40, clients.counts
    assert set(_on_every_vm(vms, SERVED_SERIAL).values()) == {new_serial}
    assert _on_every_vm(vms, WORKER_PID) == workers, "HAProxy was reloaded or restarted"
