"""Fixtures of the cluster lane: the service as users reach it, through the floating IP.

Builds on tests/conftest.py (`inventory`, `vms`, `vm`, `hostvars`, `cluster_names`,
`site_url`, `site_ca`): the service is deployed there once per session when it does not
answer yet. Every client here speaks HTTPS to the floating IP and checks its certificate
against `site_ca` (the cluster CA), Chromium included (`chromium_env`).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from deploy.credentials import NOMAD_API, VM_CA_FILE, Credentials
from deploy.site import tls_context
from deploy.smoke import SmokeResult, smoke


@pytest.fixture(scope="session")
def cluster_vars(hostvars: dict[str, dict[str, Any]], cluster_names: list[str]) -> dict[str, Any]:
    """Variables of the first VM: the ones every VM shares (VIP, registry, provider)."""
    return hostvars[cluster_names[0]]


@pytest.fixture(scope="session")
def vip(inventory: Path, cluster_vars: dict[str, Any]) -> str:
    return str(cluster_vars["imgcloud_vip"])


@pytest.fixture(scope="session")
def service_url(vip: str, site_url: str) -> str:
    """https://<floating IP>/ of a deployed cluster (deploy.site)."""
    return site_url


@pytest.fixture(scope="session")
def http(
    service_url: str, site_ca: Path | None, credentials: Credentials
) -> Iterator[httpx.Client]:
    """A client for the floating IP, with the admin token, checking the site's certificate;
    a new connection per request, as separate users."""
    limits = httpx.Limits(max_keepalive_connections=0)
    headers = credentials.api_headers
    with httpx.Client(
        base_url=service_url,
        timeout=15.0,
        limits=limits,
        headers=headers,
        verify=tls_context(site_ca),
    ) as client:
        yield client


@pytest.fixture(scope="session")
def uploaded(service_url: str, site_ca: Path | None, credentials: Credentials) -> SmokeResult:
    """One picture uploaded through the floating IP, with every variant made."""
    return smoke(service_url, credentials.api_token, site_ca)


@pytest.fixture(scope="module")
def chromium_env(site_ca: Path | None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Chromium trusting the cluster CA for real: a HOME of its own whose NSS database
    (~/.pki/nssdb, where Chromium on Linux looks for local roots) holds the CA. No
    certificate error is ignored. With an operator's public certificate (site_ca None)
    the system's roots do, and the environment is left as it is."""
    env = dict(os.environ)
    if site_ca is None:
        return env
    home = tmp_path_factory.mktemp("chromium-home")
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    database = f"sql:{nssdb}"
    for argv in (
        ["certutil", "-d", database, "-N", "--empty-password"],
        [
            "certutil",
            "-d",
            database,
            "-A",
            "-t",
            "C,,",
            "-n",
            "imgcloud-cluster-ca",
            "-i",
            str(site_ca),
        ],
    ):
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.fail(f"{' '.join(argv)}: {done.stderr.strip() or done.stdout.strip()}")
    env["HOME"] = str(home)
    return env


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
