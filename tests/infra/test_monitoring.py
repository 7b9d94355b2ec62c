"""Metrics and alerts (roles/monitoring): every VM's Prometheus scrapes the whole
cluster, on the private network only, and a real fault reaches the operator's
receiver once, then its resolution.

The end-to-end test stops one VM's node exporter (what a dead VM looks like to
Prometheus, without disturbing users) and reads the receiver: the lab provider's
(`lab status --json`: provider.alert_receiver), or on real VMs the one the
inventory names as `imgcloud_test_alert_receiver` (a URL answering GET with
`{"notifications": [...]}` in Alertmanager's webhook format).
"""

from __future__ import annotations

import json
import time
from typing import Any

import healthpage
import httpx
import pytest
from agents import wait_for

pytestmark = pytest.mark.lab

UNITS = [
    "prometheus",
    "prometheus-alertmanager",
    "prometheus-node-exporter",
    "prometheus-consul-targets",
    "imgcloud-certificate-expiry.timer",
]
# Process name (as ss shows it, 15 characters) -> the ports it must listen on.
LISTENERS = {
    "prometheus": {9090},
    "prometheus-aler": {9093, 9094},
    "prometheus-node": {9100},
}
# Scraped on every VM, one target each.
VM_JOBS = ["node", "haproxy", "consul", "nomad", "alertmanager", "prometheus"]
APP_SERVICES = ["backend", "worker", "frontend"]
TARGETS_DEADLINE_S = 90.0  # a restarted agent, a new target: two scrapes and some
PAGE_DEADLINE_S = 60.0  # the health page renders what Prometheus has: a scrape or two
FIRE_DEADLINE_S = 180.0  # the lab's `for` (20 s), a scrape, group_wait, a retry
RESOLVE_DEADLINE_S = 180.0


def _address(hostvars: dict[str, dict[str, Any]], name: str) -> str:
    return str(hostvars[name].get("ansible_host", name))


def _prometheus(vm: Any, address: str, path: str) -> Any:
    """GET Prometheus's API on this VM, from the VM itself (no route is needed to it)."""
    out = vm.check_output(f"curl -sf --max-time 10 'http://{address}:9090{path}'")
    answer = json.loads(out)
    assert answer["status"] == "success", answer
    return answer["data"]


@pytest.mark.parametrize("unit", UNITS)
def test_monitoring_runs_and_starts_at_boot(vm: Any, unit: str) -> None:
    service = vm.service(unit)
    assert service.is_running
    assert service.is_enabled


def test_monitoring_listens_on_the_private_address_only(
    vm: Any, vm_name: str, hostvars: dict[str, dict[str, Any]]
) -> None:
    """Not on the floating IP, not on a wildcard: users never reach the metrics."""
    address = _address(hostvars, vm_name)
    out = vm.check_output("ss -Hlntup")
    for process, ports in LISTENERS.items():
        listeners = [line.split()[4] for line in out.splitlines() if f'(("{process}",' in line]
        found = {int(a.rsplit(":", 1)[1]) for a in listeners}
        assert ports <= found, f"{process} listens on {listeners}, not on all of {sorted(ports)}"
        elsewhere = [a for a in listeners if a.rsplit(":", 1)[0] != address]
        assert not elsewhere, f"{process} listens beyond {address}: {elsewhere}"


def test_every_prometheus_scrapes_every_target_up(
    vm: Any, vm_name: str, hostvars: dict[str, dict[str, Any]], cluster_names: list[str]
) -> None:
    """Each VM's Prometheus sees every VM (its node exporter, HAProxy, Consul, Nomad,
    Alertmanager and Prometheus) and every instance of the services, all up."""
    address = _address(hostvars, vm_name)
    wanted = set(cluster_names)

    def missing() -> list[str]:
        targets = _prometheus(vm, address, "/api/v1/targets?state=active")["activeTargets"]
        up: dict[str, set[str]] = {}
        for target in targets:
            labels = target["labels"]
            key = labels["job"] if labels["job"] != "imgcloud" else labels.get("service", "?")
            name = (
                labels.get("node", labels["instance"])
                if labels["job"] == "imgcloud"
                else labels["instance"]
            )
            if target["health"] == "up":
                up.setdefault(key, set()).add(name)
        return [
            f"{job}: up on {sorted(up.get(job, set()))}, not {sorted(wanted)}"
            for job in [*VM_JOBS, *APP_SERVICES]
            if up.get(job, set()) != wanted
        ]

    last: list[str] = []

    def all_up() -> bool | None:
        nonlocal last
        last = missing()
        return not last or None

    try:
        wait_for(all_up, TARGETS_DEADLINE_S, "every target up", interval=2)
    except AssertionError:
        pytest.fail(f"{vm_name}'s Prometheus, after {TARGETS_DEADLINE_S:.0f} s: {last}")


def test_rules_are_loaded_and_evaluate(
    vm: Any, vm_name: str, hostvars: dict[str, dict[str, Any]]
) -> None:
    groups = _prometheus(vm, _address(hostvars, vm_name), "/api/v1/rules")["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    alerts = [r for r in rules if r["type"] == "alerting"]
    assert len(alerts) >= 10, f"only {len(alerts)} alert rules loaded"
    broken = [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"]
    assert not broken, f"rules that fail to evaluate: {broken}"


def _receiver_url(hostvars: dict[str, dict[str, Any]], cluster_names: list[str]) -> str:
    chosen = hostvars[cluster_names[0]]
    url = chosen.get("imgcloud_test_alert_receiver") or chosen.get("monitoring_alert_webhook_url")
    if not url:
        pytest.fail(
            "no alert receiver to read: set monitoring_alert_webhook_url (and, when it "
            "does not answer GET, imgcloud_test_alert_receiver)"
        )
    return str(url)


def _notifications(url: str, since: float) -> list[dict[str, Any]]:
    answer = httpx.get(url, timeout=10)
    answer.raise_for_status()
    return [n for n in answer.json()["notifications"] if n["received_at"] >= since]


def _alerts(notifications: list[dict[str, Any]], status: str, instance: str) -> list[Any]:
    return [
        (n["received_at"], alert)
        for n in notifications
        for alert in n["alerts"]
        if alert["status"] == status
        and alert["labels"].get("alertname") == "VMDown"
        and alert["labels"].get("instance") == instance
    ]


def _shows_down(page: healthpage.HealthPage, name: str) -> bool:
    row = page.vms.get(name, {})
    alerts = [a for a in page.alerts if a["alertname"] == "VMDown" and a["instance"] == name]
    return row.get("answers") == "no" and bool(alerts) and (page.firing or 0) >= 1


@pytest.mark.destructive
@pytest.mark.slow
def test_a_vm_down_alert_reaches_the_receiver_once_and_resolves(
    vms: dict[str, Any], hostvars: dict[str, dict[str, Any]], cluster_names: list[str]
) -> None:
    url = _receiver_url(hostvars, cluster_names)
    name = cluster_names[-1]
    exporter = "prometheus-node-exporter"
    since = time.time()
    vms[name].run_expect([0], f"systemctl stop {exporter}")
    try:
        fired = wait_for(
            lambda: _alerts(_notifications(url, since), "firing", name) or None,
            FIRE_DEADLINE_S,
            f"a firing VMDown for {name} at {url}",
            interval=2,
        )
        # Another VM's health page shows it too: the row, and the alert.
        other = cluster_names[0]
        wait_for(
            lambda: _shows_down(healthpage.read(vms[other], _address(hostvars, other)), name),
            PAGE_DEADLINE_S,
            f"{other}'s health page to show {name} not answering, and VMDown firing",
            interval=2,
        )
    finally:
        vms[name].run_expect([0], f"systemctl start {exporter}")
    started = time.time()
    resolved = wait_for(
        lambda: _alerts(_notifications(url, started), "resolved", name) or None,
        RESOLVE_DEADLINE_S,
        f"VMDown for {name} resolved at {url}",
        interval=2,
    )
    firing = _alerts(_notifications(url, since), "firing", name)
    print(
        f"VMDown {name}: firing {fired[0][0] - since:.0f} s after the exporter stopped, "
        f"resolved {resolved[0][0] - started:.0f} s after it started again"
    )
    # Three Prometheus send it to three Alertmanagers, which gossip: one notification.
    assert len(firing) == 1, f"{len(firing)} firing notifications, not one: {firing}"
