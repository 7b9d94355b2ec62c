"""The security lane: what the hardened cluster denies, and what it lets through.

Every test here runs against the deployed cluster (the lab unless `--inventory`),
through the shared fixtures of tests/conftest.py, and these: the floating IP, the
HAProxy settings the VMs run with, a client on this controller and one on the bastion
(another source address). The controller's clients speak HTTPS to the floating IP and
check its certificate against the site's CA (`site_ca`, tests/conftest.py).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from deploy import ROOT
from deploy.ansible import group_hosts, inventory_list
from deploy.site import tls_context

HAPROXY_DEFAULTS = ROOT / "roles" / "haproxy" / "defaults" / "main.yml"
# Run on the bastion with its own python3 (no curl there): the status and the first
# bytes of a GET, error statuses included, or why there was no answer. HTTPS there is
# NOT verified, on that remote host only: the bastion and the VMs hold no copy of the
# site's CA, and what is under test from them is what answers on which address. Trust
# in the certificate is checked from this controller, whose clients all verify it
# (`client`, tests/security/test_https.py).
_FETCH = """
import ssl, sys, urllib.error, urllib.request
unverified = ssl.create_default_context()
unverified.check_hostname = False
unverified.verify_mode = ssl.CERT_NONE
try:
    with urllib.request.urlopen(sys.argv[1], timeout=10, context=unverified) as answer:
        print(answer.status, answer.read(400).decode(errors="replace"))
except urllib.error.HTTPError as error:
    print(error.code, error.read(400).decode(errors="replace"))
except ConnectionRefusedError:
    print("refused")
except OSError as error:
    print("unreachable", error)
"""


@pytest.fixture(scope="session")
def vip(inventory: Path, hostvars: dict[str, dict[str, Any]], cluster_names: list[str]) -> str:
    return str(hostvars[cluster_names[0]]["imgcloud_vip"])


@pytest.fixture(scope="session")
def haproxy_setting(
    hostvars: dict[str, dict[str, Any]], cluster_names: list[str]
) -> Callable[[str], str]:
    """An HAProxy role variable as the VMs run it: the inventory's, else the default."""
    defaults = yaml.safe_load(HAPROXY_DEFAULTS.read_text())
    given = hostvars[cluster_names[0]]
    return lambda name: str(given.get(name, defaults[name]))


@pytest.fixture
def client(vip: str, site_ca: Path | None, api_token: str) -> Iterator[httpx.Client]:
    """This controller as one client with the admin token: one kept-alive connection,
    as a script would; HTTPS to the floating IP, its certificate checked."""
    headers = {"Authorization": f"Bearer {api_token}"}
    with httpx.Client(
        base_url=f"https://{vip}", timeout=15.0, headers=headers, verify=tls_context(site_ca)
    ) as http:
        yield http


def fetch_from(host: Any, url: str) -> str:
    return str(host.check_output(f"python3 -c {shlex.quote(_FETCH)} {shlex.quote(url)}"))


@pytest.fixture(scope="session")
def fetch_on() -> Callable[[Any, str], str]:
    """GET a URL from a testinfra host (a VM, the bastion): "<status> <first bytes>",
    or "refused" / "unreachable"."""
    return fetch_from


@pytest.fixture(scope="session")
def from_bastion(inventory: Path) -> Callable[[str], str]:
    """GET a URL from the bastion, as :func:`fetch_on` does."""
    import testinfra

    bastion = group_hosts(inventory_list(inventory), "bastion")[0]
    host = testinfra.get_host(f"ansible://{bastion}", ansible_inventory=str(inventory))
    return lambda url: fetch_from(host, url)
