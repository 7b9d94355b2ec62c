"""The floating IP leaves a VM whose HAProxy stops, within seconds, and does not come back;
the VM that let go drains it (keeps it on `lo`, unannounced) for a few seconds, then lets
it go for good."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from chaos import probes

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
    vms: dict[str, Any], vip: str, service_url: str, holder: str
) -> None:
    vms[holder].check_output("systemctl stop haproxy")
    stopped = time.monotonic()

    def answers_from_elsewhere() -> bool:
        """the floating IP answers /healthz again"""
        try:
            return httpx.get(service_url + "healthz", timeout=0.5).status_code == 200
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


def _drain_state(host: Any, vip: str) -> dict[str, bool]:
    """What the drain (roles/keepalived, notify_vip.sh) leaves on a VM."""
    routes = host.check_output("ip -4 route show table local")
    rules = host.check_output("iptables -w -S INPUT")
    sampler_says = host.check_output("python3 -c %s", probes._COMMON + f"\nprint(holds({vip!r}))")
    return {
        "address": f" {vip}/" in host.check_output("ip -o -4 addr show"),
        "lo route": re.search(rf"^local {re.escape(vip)} dev lo\b", routes, re.M) is not None,
        "SYN drop": re.search(rf"-d {re.escape(vip)}/32 -p tcp .*SYN -j DROP", rules) is not None,
        "sampler holds": sampler_says.strip() == "True",
    }


def test_the_vm_that_lets_go_drains_the_floating_ip_then_forgets_it(
    vms: dict[str, Any], vip: str, holder: str
) -> None:
    old = vms[holder]
    script = old.check_output("cat /etc/keepalived/notify_vip.sh")
    drain_s = float(re.search(r"^drain_s=(\d+)$", script, re.M).group(1))  # type: ignore[union-attr]
    arp = old.check_output("sysctl -n net.ipv4.conf.all.arp_ignore net.ipv4.conf.all.arp_announce")
    assert arp.split() == ["1", "2"], f"{holder} would answer ARP for a drained address: {arp}"
    assert _drain_state(old, vip) == {
        "address": True, "lo route": False, "SYN drop": False, "sampler holds": True
    }  # fmt: skip

    old.check_output("systemctl stop haproxy")

    def address_gone() -> bool:
        """the old holder dropped the floating IP"""
        return f" {vip}/" not in old.check_output("ip -o -4 addr show")

    _wait_for(address_gone, timeout=10)
    let_go = time.monotonic()
    # Served from lo for what is in flight, new connections dropped (their SYN is
    # retried at the new holder), and the chaos sampler counts no second holder.
    assert _drain_state(old, vip) == {
        "address": False, "lo route": True, "SYN drop": True, "sampler holds": False
    }  # fmt: skip

    def drain_over() -> bool:
        """the drain's route and rule are gone from the old holder"""
        state = _drain_state(old, vip)
        return not state["lo route"] and not state["SYN drop"]

    _wait_for(drain_over, timeout=drain_s + 10)
    drained = time.monotonic() - let_go
    print(f"\n{holder} drained the floating IP for {drained:.1f} s (drain_s {drain_s:.0f})")
    assert drained >= drain_s - 1, f"the drain ended after {drained:.1f} s, not {drain_s:.0f}"
    new_holders = _holders(vms, vip)
    assert len(new_holders) == 1 and new_holders != [holder]
    assert not _drain_state(vms[new_holders[0]], vip)["SYN drop"]
