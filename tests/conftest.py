"""Fixtures for every lane that tests a deployed cluster (infra, cluster, chaos).

`--inventory PATH` points the tests at any Ansible inventory (real VMs behind a
bastion); without it the lab is brought up. Either way `python -m deploy` runs
once per session, and only when what a test needs is not up already:
`cluster_inventory` needs Consul and Nomad, `inventory` the whole service.
Hosts come from the inventory's group `cluster`, so the same tests run on the
lab and on real VMs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy import ROOT, DeployError
from deploy.ansible import cluster_vars, environment, group_hosts, inventory_list
from deploy.credentials import Credentials, CredentialsError, for_inventory
from deploy.health import cluster_problems
from deploy.hooks import Deployment, ready_problems
from deploy.site import site_ca as site_ca_of
from deploy.site import site_url as site_url_of
from deploy.target import given_inventory, lab_inventory

_INVENTORY = pytest.StashKey[Path]()
_LISTING = pytest.StashKey[dict[str, Any]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--inventory",
        metavar="PATH",
        help="Ansible inventory of the VMs to test (default: the lab's, brought up "
        "and deployed on demand)",
    )


def pytest_configure(config: pytest.Config) -> None:
    # testinfra and the playbooks the tests run read the repository's ansible.cfg
    # and find ansible-* next to this Python, activated venv or not.
    os.environ.update(environment())
    Path("~/.ansible/cp").expanduser().mkdir(parents=True, exist_ok=True)


def inventory_path(config: pytest.Config) -> Path:
    """The inventory under test; the lab's (brought up now) when none is given."""
    if _INVENTORY not in config.stash:
        given = config.getoption("inventory")
        try:
            config.stash[_INVENTORY] = given_inventory(given) if given else lab_inventory()
        except DeployError as exc:
            raise pytest.UsageError(str(exc)) from exc
    return config.stash[_INVENTORY]


def inventory_listing(config: pytest.Config) -> dict[str, Any]:
    """`ansible-inventory --list` of the inventory under test (read once)."""
    if _LISTING not in config.stash:
        config.stash[_LISTING] = inventory_list(inventory_path(config))
    return config.stash[_LISTING]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # One test per VM of the inventory: `vm_name` (and so `vm`) is parametrized.
    if "vm_name" in metafunc.fixturenames:
        names = group_hosts(inventory_listing(metafunc.config), "cluster")
        metafunc.parametrize("vm_name", names, scope="session")


def _deploy(config: pytest.Config, inventory: Path) -> int:
    capture = config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        proc = subprocess.run(
            [sys.executable, "-m", "deploy", "-i", str(inventory)],
            cwd=ROOT,
            env=environment(),
            check=False,
        )
    return proc.returncode


def _deployed(config: pytest.Config, path: Path, problems: Callable[[], list[str]]) -> Path:
    """Deploy (once) when `problems` finds any; fail if they remain afterwards."""
    found = problems()
    if found:
        print(f"\ndeploying to {path}: " + "; ".join(found), file=sys.stderr)
        code = _deploy(config, path)
        found = problems()
        if found:
            pytest.fail(f"after deploying (exit {code}), still: " + "; ".join(found))
    return path


@pytest.fixture(scope="session")
def cluster_inventory(pytestconfig: pytest.Config) -> Path:
    """The inventory under test, with Consul and Nomad up on every VM.

    Deploys when they are not; a service that fails to come up afterwards does
    not fail the tests that only need the cluster.
    """
    path = inventory_path(pytestconfig)
    return _deployed(pytestconfig, path, lambda: cluster_problems(path))


@pytest.fixture(scope="session")
def inventory(pytestconfig: pytest.Config, cluster_inventory: Path) -> Path:
    """The inventory under test, with the whole deployment (cluster and service) ready."""
    deployment = Deployment(cluster_inventory, [], cluster_vars(cluster_inventory))
    return _deployed(pytestconfig, cluster_inventory, lambda: ready_problems(deployment))


@pytest.fixture(scope="session")
def credentials(cluster_inventory: Path) -> Credentials:
    """The cluster CA and ACL tokens of the inventory under test (on the controller)."""
    try:
        return for_inventory(cluster_inventory)
    except CredentialsError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def api_token(credentials: Credentials) -> str:
    """The service's admin token the deploy made (Authorization: Bearer)."""
    if not credentials.api_token:
        pytest.fail("the inventory's secrets folder has no api_token: deploy again")
    return credentials.api_token


@pytest.fixture(scope="session")
def cluster_names(pytestconfig: pytest.Config) -> list[str]:
    """Names of the VMs in group `cluster`, in inventory order."""
    return group_hosts(inventory_listing(pytestconfig), "cluster")


@pytest.fixture(scope="session")
def hostvars(pytestconfig: pytest.Config) -> dict[str, dict[str, Any]]:
    """Every host's variables as Ansible resolves them."""
    return dict(inventory_listing(pytestconfig)["_meta"]["hostvars"])


@pytest.fixture(scope="session")
def site_url(inventory: Path, hostvars: dict[str, dict[str, Any]], cluster_names: list[str]) -> str:
    """Where users reach the deployed service: https://<floating IP>/ (or imgcloud_url)."""
    url = site_url_of(hostvars[cluster_names[0]])
    if not url:
        pytest.fail(f"inventory {inventory} sets neither imgcloud_url nor imgcloud_vip")
    return url


@pytest.fixture(scope="session")
def site_ca(
    cluster_inventory: Path, hostvars: dict[str, dict[str, Any]], cluster_names: list[str]
) -> Path | None:
    """The CA that checks `site_url`'s certificate (deploy.site): the cluster CA unless
    the inventory gives HAProxy its own certificate; None: the system's roots. Every
    client of the site verifies against it (deploy.site.tls_context)."""
    return site_ca_of(hostvars[cluster_names[0]], cluster_inventory)


def testinfra_host(inventory: Path, name: str) -> Any:
    """A testinfra host for an inventory host; commands run as root (sudo)."""
    import testinfra

    return testinfra.get_host(f"ansible://{name}", ansible_inventory=str(inventory), sudo=True)


@pytest.fixture(scope="session")
def vms(cluster_inventory: Path, cluster_names: list[str]) -> dict[str, Any]:
    """VM name -> testinfra host, for every VM of the cluster (Consul and Nomad up)."""
    return {name: testinfra_host(cluster_inventory, name) for name in cluster_names}


@pytest.fixture(scope="session")
def bastion(pytestconfig: pytest.Config, cluster_inventory: Path) -> Any:
    """The testinfra host of the bastion (group `bastion`), as its own user."""
    import testinfra

    names = inventory_listing(pytestconfig).get("bastion", {}).get("hosts", [])
    assert names, "the inventory has no host in group bastion"
    return testinfra.get_host(f"ansible://{names[0]}", ansible_inventory=str(cluster_inventory))


@pytest.fixture(scope="session")
def vm(vms: dict[str, Any], vm_name: str) -> Any:
    """The testinfra host of one VM; tests using it run once per VM."""
    return vms[vm_name]


# Debian's Chromium, never a browser build of Playwright's own. The flags keep it off
# the network this machine does not have (background updates, sync, QUIC).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# Module scope, not session: Playwright's sync API keeps an event loop running
# while it is open, and later tests of the lane run asyncio themselves.
@pytest.fixture(scope="module")
def chromium_args() -> list[str]:
    """Chromium's command line; a module overrides this fixture to add to it."""
    return CHROMIUM_ARGS


@pytest.fixture(scope="module")
def chromium_env() -> dict[str, str]:
    """Chromium's environment; a lane overrides it, e.g. a HOME whose NSS database
    trusts the cluster CA (tests/cluster/conftest.py)."""
    return dict(os.environ)


@pytest.fixture(scope="module")
def browser(chromium_args: list[str], chromium_env: dict[str, str]) -> Iterator[Any]:
    """A headless Chromium for the browser tests of a module, in every lane."""
    from playwright.sync_api import sync_playwright  # only the browser lanes install it

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=chromium_args, env=chromium_env
        )
        yield chromium
        chromium.close()
