"""TLS on Consul and Nomad: HTTPS only, certificates of the cluster CA, mutual TLS for RPC.

The checks run on each VM (curl and python3, over testinfra's SSH), so they hold on
real VMs behind a bastion as on the lab.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from deploy.credentials import (
    CONSUL_API,
    NOMAD_API,
    VM_CA_FILE,
    Credentials,
)

pytestmark = pytest.mark.lab

# (agent, port, address): every HTTPS listener; "{address}" is the VM's private address.
HTTPS = [
    ("consul", 8501, "127.0.0.1"),
    ("nomad", 4646, "127.0.0.1"),
    ("nomad", 4646, "{address}"),
]

# What the servers' certificates must name beyond the address they were reached on.
SANS = {
    "consul": {"127.0.0.1", "localhost", "server.dc1.consul"},
    "nomad": {"127.0.0.1", "localhost", "server.global.nomad", "client.global.nomad"},
}

# (agent, RPC port, the byte that asks for a TLS connection, the server name RPC verifies).
# https://github.com/hashicorp/consul/blob/main/agent/pool/conn.go (RPCTLS = 3),
# https://github.com/hashicorp/nomad/blob/main/helper/pool/conn.go (RpcTLS = 0x04).
RPC = [
    ("consul", 8300, 3, "server.dc1.consul"),
    ("nomad", 4647, 4, "server.global.nomad"),
]

# The certificate an HTTPS API presents, verified against the CA for the address dialled.
PEER_CERT = """
import json, socket, ssl, sys
host, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
context = ssl.create_default_context(cafile=ca)
with socket.create_connection((host, port), timeout=5) as raw:
    with context.wrap_socket(raw, server_hostname=host) as tls:
        cert = tls.getpeercert()
print(json.dumps({"san": [value for _, value in cert.get("subjectAltName", ())]}))
"""

# An RPC connection that asks for TLS, trusts the CA, and offers no client certificate.
# Prints why it was refused: the TLS alert, or "accepted" if the server took it.
RPC_WITHOUT_CLIENT_CERT = """
import socket, ssl, sys
host, ca, name = sys.argv[1], sys.argv[4], sys.argv[5]
port, kind = int(sys.argv[2]), int(sys.argv[3])
context = ssl.create_default_context(cafile=ca)
raw = socket.create_connection((host, port), timeout=5)
raw.sendall(bytes([kind]))
try:
    tls = context.wrap_socket(raw, server_hostname=name)
    # TLS 1.3: the server judges the (missing) client certificate after the handshake.
    tls.sendall(b"\\0")
    print("closed" if not tls.recv(1) else "accepted")
except ssl.SSLCertVerificationError as exc:
    print("server-untrusted", exc.verify_message)
except ssl.SSLError as exc:
    print("alert", exc.reason)
except socket.timeout:
    print("accepted")
except OSError as exc:
    print("io", exc)
"""


@pytest.fixture(scope="session")
def private_address(vm: Any, credentials: Credentials) -> str:
    """The VM's address on the private network, as Consul advertises it."""
    out = vm.check_output(
        "curl -sSf --cacert %s -H %s %s",
        VM_CA_FILE,
        f"X-Consul-Token: {credentials.consul_token}",
        f"{CONSUL_API}/v1/agent/self",
    )
    return str(json.loads(out)["Member"]["Addr"])


def test_the_vm_holds_the_clusters_ca(vm: Any, credentials: Credentials) -> None:
    ca = vm.file(VM_CA_FILE)
    assert ca.mode == 0o644
    assert ca.content_string.strip() == credentials.ca_file.read_text().strip()


@pytest.mark.parametrize(("agent", "port", "address"), HTTPS)
def test_plain_http_gets_no_answer(
    vm: Any, private_address: str, agent: str, port: int, address: str
) -> None:
    url = f"http://{address.format(address=private_address)}:{port}/v1/status/leader"
    result = vm.run("curl -sS --max-time 5 -w '\\n%%{http_code}' %s", url)
    status = result.stdout.rpartition("\n")[2]
    # Go answers a plain request on a TLS port with a 400, or the connection just ends.
    assert result.rc != 0 or not status.startswith(("2", "3")), result.stdout


def test_consul_plain_http_port_is_closed(vm: Any) -> None:
    result = vm.run("curl -sS --max-time 5 http://127.0.0.1:8500/v1/status/leader")
    assert result.rc == 7, result.stdout + result.stderr  # 7: could not connect


@pytest.mark.parametrize(("agent", "port", "address"), HTTPS)
def test_api_certificate_chains_to_the_cluster_ca_and_names_the_vm(
    vm: Any, private_address: str, agent: str, port: int, address: str
) -> None:
    host = address.format(address=private_address)
    # Verifying against the CA for `host` proves both the chain and the address's SAN.
    out = vm.check_output("python3 -c %s %s %s %s", PEER_CERT, host, str(port), VM_CA_FILE)
    names = set(json.loads(out)["san"])
    assert SANS[agent] | {host} <= names, sorted(names)


@pytest.mark.parametrize(("agent", "api"), [("consul", CONSUL_API), ("nomad", NOMAD_API)])
def test_a_client_that_does_not_trust_the_ca_is_refused(vm: Any, agent: str, api: str) -> None:
    result = vm.run("curl -sS --max-time 5 %s", f"{api}/v1/status/leader")
    assert result.rc == 60, result.stdout + result.stderr  # 60: peer certificate not trusted


@pytest.mark.parametrize(("agent", "api"), [("consul", CONSUL_API), ("nomad", NOMAD_API)])
def test_a_client_that_trusts_the_ca_gets_an_answer(vm: Any, agent: str, api: str) -> None:
    out = vm.check_output(
        "curl -sSf --max-time 5 --cacert %s %s", VM_CA_FILE, f"{api}/v1/status/leader"
    )
    assert json.loads(out)


@pytest.mark.parametrize(("agent", "port", "kind", "server_name"), RPC)
def test_rpc_refuses_a_client_without_a_certificate(
    vm: Any, private_address: str, agent: str, port: int, kind: int, server_name: str
) -> None:
    out = vm.check_output(
        "python3 -c %s %s %s %s %s %s",
        RPC_WITHOUT_CLIENT_CERT,
        private_address,
        str(port),
        str(kind),
        VM_CA_FILE,
        server_name,
    )
    outcome, _, detail = out.partition(" ")
    # A TLS alert about the certificate: the port speaks TLS, trusts our CA's server
    # certificate (no verify error here), and wants a client certificate we lack.
    assert outcome == "alert", out
    assert "CERTIFICATE" in detail or "HANDSHAKE_FAILURE" in detail, out
