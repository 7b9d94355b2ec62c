"""Fixtures of the load lane: the target, and one short bench run shared by its tests.

The target is the floating IP of the inventory under test: the lab's by default
(brought up and deployed on demand by tests/conftest.py, like every cluster lane),
real VMs with `--inventory PATH`. IMGCLOUD_LOAD_URL aims at any URL instead, such as
`imgcloud dev` on loopback, and then nothing is deployed (IMGCLOUD_CA names the CA
that checks its certificate, if it is https).

`pki` is a throwaway CA made with openssl, for the unit tests of the HTTPS clients (the
bench's Nomad client, its calls to the service): no lab needed.
"""

from __future__ import annotations

import json
import os
import subprocess
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


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _ca(folder: Path, name: str) -> tuple[Path, Path]:
    cert, key = folder / f"{name}.pem", folder / f"{name}-key.pem"
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", f"/CN={name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    return cert, key


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A cluster CA, a server certificate for 127.0.0.1 it signed, and a stranger CA."""
    folder = tmp_path_factory.mktemp("pki")
    ca, ca_key = _ca(folder, "ca")
    stranger, _ = _ca(folder, "stranger")
    csr, key, cert = folder / "server.csr", folder / "server-key.pem", folder / "server.pem"
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(key), "-out", str(csr), "-subj", "/CN=server.global.nomad")  # fmt: skip
    ext = folder / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:server.global.nomad\n")
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
             "-CAcreateserial", "-out", str(cert), "-days", "1", "-extfile", str(ext))  # fmt: skip
    return {"ca": ca, "stranger": stranger, "cert": cert, "key": key}
