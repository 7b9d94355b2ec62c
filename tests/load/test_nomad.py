"""The Nomad client of the bench and the chaos suite (deploy.nomad_client, python-nomad):
HTTPS checked against the cluster CA, the deploy token sent, the next VM asked when one
does not answer.

A one-route HTTPS server on loopback with a throwaway CA (`pki`, tests/load/conftest.py)
stands in for Nomad: only the client's TLS and headers are under test here.
"""

from __future__ import annotations

import http.server
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from https_server import serving

from deploy.credentials import Credentials
from loadbench.nomad import Nomad, NomadError


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.headers.get("X-Nomad-Token") != "deploy":
            self.send_response(403)
            self.end_headers()
            self.wfile.write(b"Permission denied")
            return
        body = json.dumps({"ID": self.path.rsplit("/", 1)[-1]}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def fake_nomad(pki: dict[str, Path]) -> Iterator[str]:
    """https://127.0.0.1:<port> serving GET /v1/job/<id> to the deploy token only."""
    with serving(_Handler, pki) as url:
        yield url


@pytest.fixture(autouse=True)
def _no_nomad_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NOMAD_ADDR", "NOMAD_TOKEN", "NOMAD_CACERT"):
        monkeypatch.delenv(name, raising=False)


def test_every_vm_is_asked_over_https_with_the_deploy_token(pki: dict[str, Path]) -> None:
    credentials = Credentials(pki["ca"], "consul-mgmt", "nomad-mgmt", "deploy")
    nomad = Nomad.for_nodes(["10.1.2.11", "10.1.2.12"], credentials)
    assert nomad.addresses == ["https://10.1.2.11:4646", "https://10.1.2.12:4646"]
    assert nomad.token == "deploy"


def test_nomad_environment_overrides_address_token_and_ca(
    monkeypatch: pytest.MonkeyPatch, pki: dict[str, Path], fake_nomad: str
) -> None:
    monkeypatch.setenv("NOMAD_ADDR", fake_nomad + "/")
    monkeypatch.setenv("NOMAD_TOKEN", "deploy")
    monkeypatch.setenv("NOMAD_CACERT", str(pki["ca"]))
    wrong = Credentials(pki["stranger"], "c", "n", "not-the-deploy-token")
    nomad = Nomad.for_nodes(["10.1.2.11"], wrong)
    assert nomad.addresses == [fake_nomad]
    assert nomad.job("imgcloud-worker") == {"ID": "imgcloud-worker"}


def test_the_client_trusts_the_cluster_ca_and_sends_the_token(
    pki: dict[str, Path], fake_nomad: str
) -> None:
    nomad = Nomad([fake_nomad], "deploy", pki["ca"])
    assert nomad.job("imgcloud-worker") == {"ID": "imgcloud-worker"}


def test_a_server_the_ca_did_not_sign_gets_no_request(
    pki: dict[str, Path], fake_nomad: str
) -> None:
    nomad = Nomad([fake_nomad], "deploy", pki["stranger"])
    with pytest.raises(NomadError, match="CERTIFICATE_VERIFY_FAILED"):
        nomad.job("imgcloud-worker")


def test_a_missing_ca_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(NomadError, match="cannot read the cluster CA"):
        Nomad(["https://10.1.2.11:4646"], "deploy", tmp_path / "ca.pem")


def test_a_refused_token_is_an_error_at_once(pki: dict[str, Path], fake_nomad: str) -> None:
    nomad = Nomad([fake_nomad], "someone-else", pki["ca"])
    with pytest.raises(NomadError, match="HTTP 403"):
        nomad.job("imgcloud-worker")


def test_a_vm_that_does_not_answer_sends_the_call_to_the_next(
    pki: dict[str, Path], fake_nomad: str
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"https://127.0.0.1:{probe.getsockname()[1]}"
    nomad = Nomad([dead, fake_nomad], "deploy", pki["ca"])
    assert nomad.job("imgcloud-worker") == {"ID": "imgcloud-worker"}
    with pytest.raises(NomadError, match="no Nomad answered"):
        Nomad([dead], "deploy", pki["ca"]).job("imgcloud-worker")
