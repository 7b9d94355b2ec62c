"""The bench's own calls to the service (health, settling, clean-up), and the deploy's
smoke check, go over HTTPS with the certificate checked against the target's CA: a
server the CA did not sign gets no request answered. A loopback HTTPS server with a
throwaway CA (`pki`) stands in for the floating IP."""

from __future__ import annotations

import http.server
import json
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from https_server import serving

from deploy import smoke
from loadbench import bench, knee, openloop, saturation
from loadbench.target import Target


class _Site(http.server.BaseHTTPRequestHandler):
    deleted: ClassVar[list[str]] = []

    def _answer(self, status: int, body: bytes = b"") -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._answer(200, b"ok")
        elif self.path.startswith("/api/images"):
            self._answer(200, json.dumps({"status": "done"}).encode())
        else:
            self._answer(404)

    def do_DELETE(self) -> None:
        self.deleted.append(self.path.rsplit("/", 1)[-1])
        self._answer(204)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site(pki: dict[str, Path]) -> Iterator[str]:
    """https://127.0.0.1:<port>/ with a certificate the `pki` CA signed."""
    with serving(_Site, pki) as url:
        yield url + "/"


FLOWS = [knee.Flow(0, 1.0, float(i), True, 50.0, "", f"img{i}") for i in range(3)]


def test_the_health_wait_trusts_the_targets_ca(site: str, pki: dict[str, Path]) -> None:
    bench.wait_healthy(site, pki["ca"], timeout_s=10)


def test_the_health_wait_refuses_a_certificate_its_ca_did_not_sign(
    site: str, pki: dict[str, Path]
) -> None:
    with pytest.raises(RuntimeError, match="CERTIFICATE_VERIFY_FAILED"):
        bench.wait_healthy(site, pki["stranger"], timeout_s=1)
    with pytest.raises(RuntimeError, match="CERTIFICATE_VERIFY_FAILED"):
        bench.wait_healthy(site, None, timeout_s=1)  # the system's roots do not know it


def test_settling_asks_over_checked_https(site: str, pki: dict[str, Path]) -> None:
    assert saturation.wait_settled(site, FLOWS, pki["ca"], timeout_s=10) >= 0
    with pytest.raises(RuntimeError, match="still pending"):
        saturation.wait_settled(site, FLOWS, pki["stranger"], timeout_s=0.5)


def test_the_clean_up_deletes_over_checked_https_only(site: str, pki: dict[str, Path]) -> None:
    _Site.deleted.clear()
    refused = openloop.delete_uploads(Target(site, "url", ca=pki["stranger"]), FLOWS)
    assert refused == {"uploaded": 3, "not_deleted": 3} and _Site.deleted == []
    done = openloop.delete_uploads(Target(site, "url", ca=pki["ca"]), FLOWS)
    assert done == {"uploaded": 3, "not_deleted": 0}
    assert sorted(_Site.deleted) == ["img0", "img1", "img2"]


def test_the_deploys_service_check_trusts_the_site_ca_only(site: str, pki: dict[str, Path]) -> None:
    assert smoke.service_problems(site, "token", pki["ca"]) == []
    refused = smoke.service_problems(site, "token", pki["stranger"])
    assert len(refused) == 2 and all("CERTIFICATE_VERIFY_FAILED" in p for p in refused), refused
