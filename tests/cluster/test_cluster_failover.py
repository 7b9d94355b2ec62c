"""The floating IP leaves a VM whose HAProxy stops, within seconds, and does not come back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from deploy.site import tls_context

pytestmark = [pytest.mark.lab, pytest.mark.destructive]


def _holders(vms: dict[str, Any], vip: str) -> list[str]:
    addresses = {name: host.check_output("ip -o -4 addr show") for name, host in vms.items()}
    return [name for name, text in addresses.items() if f" {vip}/" in text]


def _wait_for(condition: Any, timeout: float) -> float:
    """Seconds until condition() is true; fails the test past the deadline."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            pytest.fail(f"still not true after {timeout} s: {condition.__doc__}")
        time.sleep(0.1)
    return time.monotonic() - started


@pytest.fixture
def holder(vms: dict[str, Any], vip: str) -> Iterator[str]:
    """The VM holding the floating IP; its HAProxy is started again afterwards."""
    holders = _holders(vms, vip)
    assert len(holders) == 1, holders
    yield holders[0]
    vms[holders[0]].run("systemctl start haproxy")


def test_floating_ip_moves_when_its_haproxy_stops(
    vms: dict[str, Any], vip: str, service_url: str, site_ca: Path | None, holder: str
) -> None:
    vms[holder].check_output("systemctl stop haproxy")
    stopped = time.monotonic()
    verify = tls_context(site_ca)

    def answers_from_elsewhere() -> bool:
        """the floating IP answers /healthz again"""
        try:
            return httpx.get(service_url + "healthz", timeout=0.5, verify=verify).status_code == 200
        except httpx.HTTPError:
            return False

    _wait_for(answers_from_elsewhere, timeout=15)
    downtime = time.monotonic() - stopped
    new_holders = _holders(vms, vip)
    print(f"\nfloating IP moved from {holder} to {new_holders}; answered after {downtime:.1f} s")
    assert len(new_holders) == 1 and new_holders != [holder]
    assert downtime < 6, f"the floating IP took {downtime:.1f} s to answer again"

    # nopreempt: the old holder's HAProxy returns, the address stays where it is
    # (watched for longer than VRRP needs to elect anew).
    vms[holder].check_output("systemctl start haproxy")
    watch_until = time.monotonic() + 5
    while time.monotonic() < watch_until:
        assert _holders(vms, vip) == new_holders
