"""The health page (docs/operations.md "The health page"): every VM's Prometheus
renders the cluster as it is, from the metrics the alerts read. What it says is
checked against the cluster itself: the floating IP's holder from the VMs'
addresses, the Raft leaders from the agents, the firing alerts from Prometheus's
API. tests/infra/test_monitoring.py's end-to-end test checks that a VM down shows."""

from __future__ import annotations

import json
from typing import Any

import healthpage
import pytest
from agents import CONSUL, NOMAD, leader_name, wait_for

pytestmark = pytest.mark.lab

PAGE_DEADLINE_S = 60.0  # a leader or the floating IP just moved: a scrape or two
SERVICES = ["backend", "frontend", "worker"]


def _address(hostvars: dict[str, dict[str, Any]], name: str) -> str:
    return str(hostvars[name].get("ansible_host", name))


def _holders(vms: dict[str, Any], vip: str) -> list[str]:
    return sorted(n for n, vm in vms.items() if vm.run(f"ip -o -4 addr show to {vip}").stdout)


def _firing(vm: Any, address: str) -> list[tuple[str, str, str]]:
    query = "query=ALERTS%7Balertstate%3D%22firing%22%7D"
    out = vm.check_output(f"curl -sf --max-time 10 'http://{address}:9090/api/v1/query?{query}'")
    result = json.loads(out)["data"]["result"]
    return sorted(
        (m["alertname"], m.get("instance", ""), m.get("service", ""))
        for m in (r["metric"] for r in result)
    )


def _differences(
    page: healthpage.HealthPage, vms: dict[str, Any], vip: str, firing: list[Any]
) -> list[str]:
    wrong: list[str] = []
    if sorted(page.vms) != sorted(vms):
        wrong.append(f"rows for {sorted(page.vms)}, not {sorted(vms)}")
    for name, row in sorted(page.vms.items()):
        down = [k for k in ("consul", "nomad", "haproxy") if row[k] == "down"]
        if row["answers"] != "yes" or down:
            wrong.append(f"{name}: answers {row['answers']}, down: {down}")
    holders = _holders(vms, vip)
    if page.holders() != holders or len(holders) != 1:
        wrong.append(f"floating IP held by {page.holders()} on the page, {holders} in fact")
    for agent in (CONSUL, NOMAD):
        leader = leader_name(vms, agent)
        if page.leaders(agent.name) != [leader]:
            wrong.append(f"{agent} leader {page.leaders(agent.name)} on the page, {leader} in fact")
    if page.services != SERVICES:
        wrong.append(f"services {page.services}, not {SERVICES}")
    shown = sorted((a["alertname"], a["instance"], a["service"]) for a in page.alerts)
    if page.firing != len(shown) or shown != firing:
        wrong.append(f"firing on the page {page.firing}: {shown}; Prometheus: {firing}")
    return wrong


def test_the_health_page_shows_the_cluster_as_it_is(
    vm: Any, vm_name: str, vms: dict[str, Any], hostvars: dict[str, dict[str, Any]]
) -> None:
    address = _address(hostvars, vm_name)
    vip = str(hostvars[vm_name]["imgcloud_vip"])
    last: list[str] = []

    def agrees() -> bool | None:
        nonlocal last
        last = _differences(healthpage.read(vm, address), vms, vip, _firing(vm, address))
        return not last or None

    try:
        wait_for(agrees, PAGE_DEADLINE_S, "the health page to agree with the cluster", interval=2)
    except AssertionError:
        pytest.fail(f"{vm_name}'s health page, after {PAGE_DEADLINE_S:.0f} s: {last}")
