"""Fixtures of the lab's own test lane.

The main lab (`$IMGCLOUD_LAB_NAME`, default `imgcloud`) is brought up once per
session when it is not running, and never taken down here: other lanes and
people use it. Tests of `down` make a second, one-VM lab beside it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from labtools import REPO, lab_cli

MAIN_LAB = os.environ.get("IMGCLOUD_LAB_NAME", "imgcloud")
DEFAULT_VMS = 3


def _status_file() -> Path:
    root = os.environ.get("IMGCLOUD_LAB_STATE_ROOT")
    return (Path(root) if root else REPO / ".lab") / MAIN_LAB / "status.json"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize `vm` by the main lab's VMs (vm1..vm3 before its first `up`)."""
    if "vm" in metafunc.fixturenames:
        path = _status_file()
        names = (
            [n["name"] for n in json.loads(path.read_text())["nodes"]]
            if path.is_file()
            else [f"vm{i}" for i in range(1, DEFAULT_VMS + 1)]
        )
        metafunc.parametrize("vm", names)


@pytest.fixture(scope="session")
def lab() -> dict[str, Any]:
    """The main lab's status document, after making sure the lab is up."""
    status = lab_cli("status", "--json", "--name", MAIN_LAB)
    if status.returncode != 0 or not json.loads(status.stdout)["running"]:
        up = lab_cli("up", "--name", MAIN_LAB)
        assert up.returncode == 0, f"lab up failed:\n{up.stderr}"
        status = lab_cli("status", "--json", "--name", MAIN_LAB)
    assert status.returncode == 0, status.stderr
    return json.loads(status.stdout)


@pytest.fixture(scope="session")
def ssh_config(lab: dict[str, Any]) -> Path:
    return Path(lab["ssh_config"])


@pytest.fixture(scope="session")
def node_by_name(lab: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {node["name"]: node for node in lab["nodes"]}
