"""Fixtures of the load lane: the target, and one short bench run shared by its tests.

The target is the floating IP of the inventory under test: the lab's by default
(brought up and deployed on demand by tests/conftest.py, like every cluster lane),
real VMs with `--inventory PATH`. IMGCLOUD_LOAD_URL aims at any URL instead, such as
`imgcloud dev` on loopback, and then nothing is deployed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from loadbench import bench
from loadbench.locust_run import Load
from loadbench.target import Target, resolve

SMOKE_LOAD = Load(users=4, spawn_rate=2.0, duration_s=30, mix="2mp=3,12mp=1")


@pytest.fixture(scope="session")
def load_target(request: pytest.FixtureRequest) -> Target:
    """IMGCLOUD_LOAD_URL as is; else the inventory under test, deployed and healthy."""
    if os.environ.get("IMGCLOUD_LOAD_URL"):
        return resolve()
    inventory: Path = request.getfixturevalue("inventory")  # from tests/conftest.py
    return resolve(inventory=str(inventory))


@pytest.fixture(scope="session")
def smoke_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("load-smoke")


@pytest.fixture(scope="session")
def smoke_summary(load_target: Target, smoke_dir: Path) -> dict[str, Any]:
    """One short headless bench against the target; its summary.json as written."""
    cores = bench.cores_for(load_target, None)
    bench.bench(load_target, SMOKE_LOAD, smoke_dir, cores, repeats=1)
    return json.loads((smoke_dir / "summary.json").read_text())
