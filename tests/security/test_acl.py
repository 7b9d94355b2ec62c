"""ACLs on Consul and Nomad: default deny, the management tokens open, the deploy token narrow.

Every call is made on the VM itself, to the agent's HTTPS API on loopback, with curl
trusting the VM's copy of the cluster CA (deploy.credentials), so the checks hold on
real VMs behind a bastion as on the lab. Only the token differs between the cases.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import consul_dns
import pytest

from deploy.credentials import (
    CONSUL_API,
    NOMAD_API,
    VM_CA_FILE,
    Credentials,
)

pytestmark = pytest.mark.lab

# Names the calls below create, removed again after each test.
PROBE_KEY = "imgcloud-acl-probe"
PROBE_JOB = "imgcloud-acl-probe"

# A parameterized batch job: registering it runs nothing until it is dispatched.
PROBE_JOB_BODY = json.dumps(
    {
        "Job": {
            "ID": PROBE_JOB,
            "Name": PROBE_JOB,
            "Type": "batch",
            "Datacenters": ["*"],
            "ParameterizedJob": {},
            "TaskGroups": [
                {
                    "Name": "probe",
                    "Tasks": [
                        {"Name": "probe", "Driver": "docker", "Config": {"image": "busybox"}}
                    ],
                }
            ],
        }
    }
)

# (API, method, path, body): what an anonymous caller must be refused and a management
# token allowed. Consul's anonymous policy reads nodes and imgcloud-* services only.
GUARDED = [
    ("consul", "PUT", f"/v1/kv/{PROBE_KEY}", "x"),
    ("consul", "GET", "/v1/acl/tokens", None),
    ("consul", "GET", "/v1/agent/self", None),
    ("consul", "GET", "/v1/operator/raft/configuration", None),
    ("nomad", "GET", "/v1/jobs", None),
    ("nomad", "GET", "/v1/nodes", None),
    ("nomad", "GET", "/v1/acl/tokens", None),
    ("nomad", "GET", "/v1/var/nomad/jobs", None),
    ("nomad", "POST", "/v1/jobs", PROBE_JOB_BODY),
]

# The deploy token submits, reads and scales jobs; nothing about ACLs, nodes or Raft.
# (Nomad lists a token's own policies to it, so /v1/acl/policies is no test of that.)
DEPLOY_ALLOWED = [("GET", "/v1/jobs"), ("GET", "/v1/job/imgcloud-backend")]
DEPLOY_DENIED = [
    ("GET", "/v1/acl/tokens"),
    ("GET", "/v1/nodes"),
    # Ends a drain that is not there: harmless even if the token were let through.
    ("POST", "/v1/node/{node_id}/drain"),
    ("GET", "/v1/operator/raft/configuration"),
    ("GET", "/v1/operator/scheduler/configuration"),
]
NO_DRAIN = json.dumps({"DrainSpec": None, "MarkEligible": False})

APIS = {"consul": (CONSUL_API, "X-Consul-Token"), "nomad": (NOMAD_API, "X-Nomad-Token")}


def call(
    vm: Any, api: str, method: str, path: str, token: str | None = None, body: str | None = None
) -> tuple[int, str]:
    """(HTTP status, body) of one call to an agent's API, made on the VM."""
    base, header = APIS[api]
    command = "curl -sS --max-time 10 -w '\\n%%{http_code}' --cacert %s -X %s"
    args: list[str] = [VM_CA_FILE, method]
    if token is not None:
        command += " -H %s"
        args.append(f"{header}: {token}")
    if body is not None:
        command += " --data-binary %s"
        args.append(body)
    out = vm.check_output(command + " %s", *args, base + path)
    text, _, status = out.rpartition("\n")
    return int(status), text


def management_token(credentials: Credentials, api: str) -> str:
    return credentials.consul_token if api == "consul" else credentials.nomad_token


@pytest.fixture
def tidy(vm: Any, credentials: Credentials) -> Iterator[None]:
    """Remove what a successful write made: the probe key and the probe job."""
    yield
    call(vm, "consul", "DELETE", f"/v1/kv/{PROBE_KEY}", credentials.consul_token)
    call(vm, "nomad", "DELETE", f"/v1/job/{PROBE_JOB}?purge=true", credentials.nomad_token)


@pytest.fixture
def node_id(vm: Any, credentials: Credentials) -> str:
    """This VM's Nomad node ID."""
    _, text = call(vm, "nomad", "GET", "/v1/agent/self", credentials.nomad_token)
    return str(json.loads(text)["stats"]["client"]["node_id"])


@pytest.mark.parametrize(("api", "method", "path", "body"), GUARDED)
def test_anonymous_calls_are_denied(
    vm: Any, tidy: None, api: str, method: str, path: str, body: str | None
) -> None:
    status, text = call(vm, api, method, path, body=body)
    assert status == 403, text


@pytest.mark.parametrize(("api", "method", "path", "body"), GUARDED)
def test_an_unknown_token_is_denied(
    vm: Any, tidy: None, api: str, method: str, path: str, body: str | None
) -> None:
    status, text = call(vm, api, method, path, "00000000-0000-4000-8000-000000000000", body)
    assert status == 403, text


@pytest.mark.parametrize(("api", "method", "path", "body"), GUARDED)
def test_the_management_token_is_allowed(
    vm: Any,
    inventory: Path,  # the service deployed: nomad/jobs exists
    credentials: Credentials,
    tidy: None,
    api: str,
    method: str,
    path: str,
    body: str | None,
) -> None:
    status, text = call(vm, api, method, path, management_token(credentials, api), body)
    assert status == 200, text


@pytest.mark.parametrize(("method", "path"), DEPLOY_ALLOWED)
def test_the_deploy_token_reads_jobs(
    vm: Any, inventory: Path, credentials: Credentials, method: str, path: str
) -> None:
    status, text = call(vm, "nomad", method, path, credentials.nomad_deploy_token)
    assert status == 200, text


@pytest.mark.parametrize(("method", "path"), DEPLOY_DENIED)
def test_the_deploy_token_cannot_touch_acls_nodes_or_operators(
    vm: Any, credentials: Credentials, node_id: str, method: str, path: str
) -> None:
    body = NO_DRAIN if method == "POST" else None
    url = path.format(node_id=node_id)
    status, text = call(vm, "nomad", method, url, credentials.nomad_deploy_token, body)
    assert status == 403, text


def test_the_deploy_token_is_not_a_consul_token(vm: Any, credentials: Credentials) -> None:
    status, text = call(vm, "consul", "GET", "/v1/acl/tokens", credentials.nomad_deploy_token)
    assert status == 403, text


@pytest.mark.parametrize("api", sorted(APIS))
def test_status_answers_without_a_token(vm: Any, api: str) -> None:
    status, text = call(vm, api, "GET", "/v1/status/leader")
    assert status == 200, text
    assert json.loads(text), "no leader named"


def test_anonymous_dns_finds_the_backends_for_haproxy(vm: Any, inventory: Path) -> None:
    answers, rcode = consul_dns.lookup(vm, "imgcloud-backend.service.consul", consul_dns.SRV)
    assert rcode == 0 and answers >= 1


def test_anonymous_catalog_shows_only_imgcloud_services(
    vm: Any, inventory: Path, credentials: Credentials
) -> None:
    status, text = call(vm, "consul", "GET", "/v1/catalog/services")
    assert status == 200, text
    anonymous = set(json.loads(text))
    assert anonymous, "the anonymous catalog should list the imgcloud services"
    assert {name for name in anonymous if not name.startswith("imgcloud-")} == set()
    _, everything = call(vm, "consul", "GET", "/v1/catalog/services", credentials.consul_token)
    assert "consul" in json.loads(everything)  # there is more to hide than imgcloud-*


def test_anonymous_dns_does_not_name_consul_servers(vm: Any) -> None:
    # consul.service.consul is not an imgcloud-* service: anonymous DNS cannot read it.
    answers, _ = consul_dns.lookup(vm, "consul.service.consul", consul_dns.SRV)
    assert answers == 0
