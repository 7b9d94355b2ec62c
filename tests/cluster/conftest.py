"""Fixtures of the cluster lane: the service as users reach it, through the floating IP.

Builds on tests/conftest.py (`inventory`, `vms`, `vm`, `hostvars`, `cluster_names`):
the service is deployed there once per session when it does not answer yet.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from deploy.credentials import NOMAD_API, VM_CA_FILE, Credentials
from deploy.smoke import SmokeResult, smoke


@pytest.fixture(scope="session")
def cluster_vars(hostvars: dict[str, dict[str, Any]], cluster_names: list[str]) -> dict[str, Any]:
    """Variables of the first VM: the ones every VM shares (VIP, registry, provider)."""
    return hostvars[cluster_names[0]]


@pytest.fixture(scope="session")
def vip(inventory: Path, cluster_vars: dict[str, Any]) -> str:
    return str(cluster_vars["imgcloud_vip"])


@pytest.fixture(scope="session")
def service_url(vip: str) -> str:
    """http://<floating IP>/ of a deployed cluster."""
    return f"http://{vip}/"


@pytest.fixture(scope="session")
def http(service_url: str, credentials: Credentials) -> Iterator[httpx.Client]:
    """A client for the floating IP, with the admin token; a new connection per request,
    as separate users."""
    limits = httpx.Limits(max_keepalive_connections=0)
    headers = credentials.api_headers
    with httpx.Client(base_url=service_url, timeout=15.0, limits=limits, headers=headers) as client:
        yield client


@pytest.fixture(scope="session")
def uploaded(service_url: str, credentials: Credentials) -> SmokeResult:
    """One picture uploaded through the floating IP, with every variant made."""
    return smoke(service_url, credentials.api_token)


@pytest.fixture(scope="session")
def nomad_env(credentials: Credentials) -> str:
    """Environment for the `nomad` command on a VM: HTTPS, the cluster CA, the deploy token
    (reading and validating jobs is all the tests ask of it)."""
    return (
        f"NOMAD_ADDR={NOMAD_API} NOMAD_CACERT={VM_CA_FILE} "
        f"NOMAD_TOKEN={credentials.nomad_deploy_token}"
    )


@pytest.fixture(scope="session")
def nomad_job(vms: dict[str, Any], cluster_names: list[str], credentials: Credentials) -> Any:
    """Reads a job from Nomad's API on the first VM: nomad_job('imgcloud-backend')."""
    import json

    first = vms[cluster_names[0]]
    header = f"X-Nomad-Token: {credentials.nomad_deploy_token}"

    def read(job_id: str) -> dict[str, Any]:
        url = f"{NOMAD_API}/v1/job/{job_id}"
        return json.loads(
            first.check_output(f"curl -fsS --cacert {VM_CA_FILE} -H %s {url}", header)
        )

    return read
