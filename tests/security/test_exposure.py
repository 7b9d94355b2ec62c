"""The service's internals answer on the VMs' network only, never on the floating IP.

Readiness (which checks fail, and why), Prometheus metrics and HAProxy's stats page tell
an attacker what runs where. Through the floating IP a user gets a JSON 404 for the
first two, and nothing listens for the third; on a VM's own address, where Prometheus
and the operator look, all three answer. Asked from this controller (a user of the
floating IP, over HTTPS with its certificate checked) and from the bastion (another
address), and from each VM to its own address (plain HTTP: only the floating IP
redirects to HTTPS).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from deploy.site import tls_context

pytestmark = [pytest.mark.lab]

INTERNAL_PATHS = ("/readyz", "/metrics")


@pytest.fixture(scope="module")
def stats(haproxy_setting: Callable[[str], str]) -> tuple[int, str]:
    return int(haproxy_setting("haproxy_stats_port")), haproxy_setting("haproxy_stats_uri")


@pytest.mark.parametrize("path", INTERNAL_PATHS)
def test_internal_paths_are_not_found_on_the_floating_ip(
    vip: str, site_ca: Path | None, path: str
) -> None:
    answer = httpx.get(f"https://{vip}{path}", timeout=10, verify=tls_context(site_ca))
    assert answer.status_code == 404, f"{path} answered {answer.status_code}: {answer.text[:200]}"
    assert answer.json()["reason"] == "not_found"
    assert "imgcloud_" not in answer.text and "checks" not in answer.text


@pytest.mark.parametrize("path", INTERNAL_PATHS)
def test_internal_paths_are_not_found_from_another_address(
    vip: str, path: str, from_bastion: Callable[[str], str]
) -> None:
    seen = from_bastion(f"https://{vip}{path}")
    assert seen.startswith("404 "), f"{path} from the bastion: {seen[:200]}"


def test_the_stats_page_does_not_answer_on_the_floating_ip(
    vip: str, stats: tuple[int, str], from_bastion: Callable[[str], str]
) -> None:
    port, uri = stats
    seen = from_bastion(f"http://{vip}:{port}{uri}")
    assert seen.startswith(("refused", "unreachable")), f"stats on the floating IP: {seen[:200]}"
    # This controller may pass the firewall (the lab's operator does): then only the
    # stats page's own address keeps it off the floating IP.
    try:
        answer = httpx.get(f"http://{vip}:{port}{uri}", timeout=5)
    except httpx.TransportError:
        return
    pytest.fail(f"stats on the floating IP answered this controller: {answer.status_code}")


def test_the_service_itself_is_still_reachable(
    vip: str, site_ca: Path | None, client: httpx.Client
) -> None:
    verify = tls_context(site_ca)
    assert httpx.get(f"https://{vip}/healthz", timeout=10, verify=verify).status_code == 200
    assert client.get("/api/images?limit=1").status_code == 200


def test_readiness_metrics_and_stats_answer_on_the_vm_address(
    vm: Any,
    vm_name: str,
    hostvars: dict[str, dict[str, Any]],
    stats: tuple[int, str],
    fetch_on: Callable[[Any, str], str],
) -> None:
    address = hostvars[vm_name]["ansible_host"]
    port, uri = stats
    ready = fetch_on(vm, f"http://{address}/readyz")
    assert ready.startswith("200 ") and '"checks"' in ready, f"/readyz: {ready[:200]}"
    metrics = fetch_on(vm, f"http://{address}/metrics")
    assert metrics.startswith("200 ") and "# HELP" in metrics, f"/metrics: {metrics[:200]}"
    page = fetch_on(vm, f"http://{address}:{port}{uri}")
    assert page.startswith("200 "), f"stats: {page[:200]}"
