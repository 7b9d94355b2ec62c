"""The service's internals answer on the VMs' network only, never on the floating IP.

Readiness (which checks fail, and why), Prometheus metrics and HAProxy's stats page tell
an attacker what runs where. Through the floating IP a user gets a JSON 404 for the
first two, and nothing listens for the third; on a VM's own address, where Prometheus
and the operator look, all three answer. Asked from this controller (a user of the
floating IP) and from the bastion (another address), and from each VM to its own address.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from deploy import ROOT
from deploy.ansible import group_hosts, inventory_list

pytestmark = [pytest.mark.lab]

ROLE_DEFAULTS = ROOT / "roles" / "haproxy" / "defaults" / "main.yml"
INTERNAL_PATHS = ("/readyz", "/metrics")
# Prints the status and the first bytes of a GET, or "refused"/"timeout" (python3 on the
# VMs and the bastion: no curl needed).
_FETCH = """
import sys, urllib.error, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=5) as answer:
        print(answer.status, answer.read(400).decode(errors="replace"))
except urllib.error.HTTPError as error:
    print(error.code, error.read(400).decode(errors="replace"))
except ConnectionRefusedError:
    print("refused")
except OSError as error:
    print("unreachable", error)
"""


@pytest.fixture(scope="module")
def vip(hostvars: dict[str, dict[str, Any]], cluster_names: list[str]) -> str:
    return str(hostvars[cluster_names[0]]["imgcloud_vip"])


@pytest.fixture(scope="module")
def stats(hostvars: dict[str, dict[str, Any]], cluster_names: list[str]) -> tuple[int, str]:
    defaults = yaml.safe_load(ROLE_DEFAULTS.read_text())
    given = hostvars[cluster_names[0]]
    return (
        int(given.get("haproxy_stats_port", defaults["haproxy_stats_port"])),
        str(given.get("haproxy_stats_uri", defaults["haproxy_stats_uri"])),
    )


@pytest.fixture(scope="module")
def from_bastion(inventory: Path) -> Callable[[str], str]:
    import testinfra

    bastion = group_hosts(inventory_list(inventory), "bastion")[0]
    host = testinfra.get_host(f"ansible://{bastion}", ansible_inventory=str(inventory))
    return lambda url: fetch(host, url)


def fetch(host: Any, url: str) -> str:
    return str(host.check_output(f"python3 -c {shlex.quote(_FETCH)} {shlex.quote(url)}"))


@pytest.mark.parametrize("path", INTERNAL_PATHS)
def test_internal_paths_are_not_found_on_the_floating_ip(vip: str, path: str) -> None:
    answer = httpx.get(f"http://{vip}{path}", timeout=10)
    assert answer.status_code == 404, f"{path} answered {answer.status_code}: {answer.text[:200]}"
    assert answer.json()["reason"] == "not_found"
    assert "imgcloud_" not in answer.text and "checks" not in answer.text


@pytest.mark.parametrize("path", INTERNAL_PATHS)
def test_internal_paths_are_not_found_from_another_address(
    vip: str, path: str, from_bastion: Callable[[str], str]
) -> None:
    seen = from_bastion(f"http://{vip}{path}")
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


def test_the_service_itself_is_still_public(vip: str) -> None:
    assert httpx.get(f"http://{vip}/healthz", timeout=10).status_code == 200
    assert httpx.get(f"http://{vip}/api/images?limit=1", timeout=10).status_code == 200


def test_readiness_metrics_and_stats_answer_on_the_vm_address(
    vm: Any, vm_name: str, hostvars: dict[str, dict[str, Any]], stats: tuple[int, str]
) -> None:
    address = hostvars[vm_name]["ansible_host"]
    port, uri = stats
    ready = fetch(vm, f"http://{address}/readyz")
    assert ready.startswith("200 ") and '"checks"' in ready, f"/readyz: {ready[:200]}"
    metrics = fetch(vm, f"http://{address}/metrics")
    assert metrics.startswith("200 ") and "# HELP" in metrics, f"/metrics: {metrics[:200]}"
    page = fetch(vm, f"http://{address}:{port}{uri}")
    assert page.startswith("200 "), f"stats: {page[:200]}"
