"""HAProxy keeps routing from what it last knew while Consul cannot answer at all."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from traffic import Traffic

from deploy.health import cluster_problems
from deploy.smoke import SmokeResult, service_problems

pytestmark = [pytest.mark.lab, pytest.mark.destructive, pytest.mark.slow]

OUTAGE_SECONDS = 30


def _wait(what: str, problems: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    found = problems()
    while found:
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not back after {timeout} s: {found}")
        time.sleep(2)
        found = problems()


@pytest.fixture
def consul_down(
    inventory: Path,
    vms: dict[str, Any],
    service_url: str,
    site_ca: Path | None,
    api_token: str,
) -> Iterator[None]:
    """Consul stopped on every VM; started again and healthy afterwards."""
    for host in vms.values():
        host.check_output("systemctl stop consul")
    yield
    for host in vms.values():
        host.check_output("systemctl start consul")
    _wait("Consul and Nomad", lambda: cluster_problems(inventory), timeout=180)
    _wait("the service", lambda: service_problems(service_url, api_token, site_ca), timeout=120)


def test_haproxy_routes_on_while_consul_is_down(
    consul_down: None,
    service_url: str,
    site_ca: Path | None,
    uploaded: SmokeResult,
    api_token: str,
) -> None:
    with Traffic(service_url, uploaded.image_id, api_token, site_ca) as traffic:
        time.sleep(OUTAGE_SECONDS)  # the outage under traffic: its length is the experiment
    print(f"\nConsul down on every VM for {OUTAGE_SECONDS} s: {traffic.summary()}")
    assert traffic.count > 50, traffic.summary()
    assert traffic.failures == [], traffic.summary()
