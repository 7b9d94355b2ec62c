"""Fixtures for every lane that tests a deployed cluster (infra, cluster, chaos).

`--inventory PATH` points the tests at any Ansible inventory (real VMs behind a
bastion); without it the lab is brought up. Either way the cluster is deployed
once per session, and only when it is not healthy already. Hosts come from the
inventory's group `cluster`, so the same tests run on the lab and on real VMs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from deploy import ROOT, DeployError
from deploy.ansible import cluster_vars, environment, group_hosts, inventory_list
from deploy.hooks import Deployment, ready_problems
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


def _deploy(config: pytest.Config, inventory: Path) -> None:
    capture = config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        proc = subprocess.run(
            [sys.executable, "-m", "deploy", "-i", str(inventory)],
            cwd=ROOT,
            env=environment(),
            check=False,
        )
    if proc.returncode != 0:
        pytest.fail(f"deploying to {inventory} failed (exit {proc.returncode}; see above)")


@pytest.fixture(scope="session")
def inventory(pytestconfig: pytest.Config) -> Path:
    """Path of the inventory under test, with the cluster deployed and healthy."""
    path = inventory_path(pytestconfig)
    deployment = Deployment(path, [], cluster_vars(path))
    problems = ready_problems(deployment)
    if problems:
        print(f"\ndeploying to {path}: " + "; ".join(problems), file=sys.stderr)
        _deploy(pytestconfig, path)
        problems = ready_problems(deployment)
        if problems:
            pytest.fail("after deploying, the cluster is still not ready: " + "; ".join(problems))
    return path


@pytest.fixture(scope="session")
def cluster_names(pytestconfig: pytest.Config) -> list[str]:
    """Names of the VMs in group `cluster`, in inventory order."""
    return group_hosts(inventory_listing(pytestconfig), "cluster")


@pytest.fixture(scope="session")
def hostvars(pytestconfig: pytest.Config) -> dict[str, dict[str, Any]]:
    """Every host's variables as Ansible resolves them."""
    return dict(inventory_listing(pytestconfig)["_meta"]["hostvars"])


def testinfra_host(inventory: Path, name: str) -> Any:
    """A testinfra host for an inventory host; commands run as root (sudo)."""
    import testinfra

    return testinfra.get_host(f"ansible://{name}", ansible_inventory=str(inventory), sudo=True)


@pytest.fixture(scope="session")
def vms(inventory: Path, cluster_names: list[str]) -> dict[str, Any]:
    """VM name -> testinfra host, for every VM of the cluster."""
    return {name: testinfra_host(inventory, name) for name in cluster_names}


@pytest.fixture(scope="session")
def vm(vms: dict[str, Any], vm_name: str) -> Any:
    """The testinfra host of one VM; tests using it run once per VM."""
    return vms[vm_name]
