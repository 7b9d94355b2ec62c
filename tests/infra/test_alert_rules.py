"""Every alert rule fires when its condition holds, and resolves when it goes.

The rules deployed on the VMs (roles/monitoring) are tried by Prometheus's own
rule tester, `promtool test rules`, on a VM: each case feeds made-up series in
three phases, healthy, faulty, healthy again, and expects the alert (its labels
and summary) firing near the end of the fault, not firing before its `for` has
passed (when it has one), and gone at the end. The `for` of each rule is read
from the deployed file, so the lab's short ones and the defaults are both tried.
Every alert of the file must have a case here: a new rule without one fails.

The lab's end-to-end proof (a real condition, Alertmanager, the receiver) is
tests/infra/test_monitoring.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.lab

RULES = "/etc/prometheus/rules/imgcloud.yml"
STEP_S = 10  # the series' interval and the evaluation interval of the tests
HEALTHY_BEFORE_S = 120
HEALTHY_AFTER_S = 15 * 60  # past every window (5 m rates, the floating IP's 10 m)
VIP = "{vip}"  # filled with the deployed rules' floating IP
VMS = ("vm1", "vm2", "vm3")
BACKUP_AGE_MAX_S = 3 * 3600  # at least monitoring_backup_max_age_s, wherever deployed


@dataclass(frozen=True)
class Timeline:
    before: int  # steps of each phase
    fault: int
    after: int

    @property
    def steps(self) -> int:
        return self.before + self.fault + self.after

    def phase(self, step: int) -> str:
        if step < self.before:
            return "before"
        return "fault" if step < self.before + self.fault else "after"


Series = dict[str, list[str]]


def _gauge(t: Timeline, healthy: str, fault: str) -> list[str]:
    return [fault if t.phase(i) == "fault" else healthy for i in range(t.steps)]


def _counter(t: Timeline, healthy_rate: int, fault_rate: int) -> list[str]:
    values, total = [], 0
    for i in range(t.steps):
        total += fault_rate if t.phase(i) == "fault" else healthy_rate
        values.append(str(total))
    return values


def _vm_down(t: Timeline) -> Series:
    return {
        f'up{{job="node", instance="{vm}"}}': _gauge(t, "1", "0" if vm == "vm2" else "1")
        for vm in VMS
    }


def _disk(t: Timeline) -> Series:
    labels = 'job="node", instance="vm1", device="/dev/vda1", fstype="ext4", mountpoint="/"'
    return {
        f"node_filesystem_avail_bytes{{{labels}}}": _gauge(t, "50e9", "5e9"),
        f"node_filesystem_size_bytes{{{labels}}}": _gauge(t, "100e9", "100e9"),
    }


def _certificate(t: Timeline) -> Series:
    labels = 'job="node", instance="vm1", path="/etc/haproxy/tls/site.pem"'
    series = f"imgcloud_certificate_expiry_timestamp_seconds{{{labels}}}"
    return {series: _gauge(t, str(400 * 86400), str(20 * 86400))}


def _consul_leader(t: Timeline) -> Series:
    return {
        f'consul_server_isLeader{{job="consul", instance="{vm}"}}': _gauge(
            t, "1" if vm == "vm3" else "0", "0"
        )
        for vm in VMS
    }


def _voters(job: str) -> Callable[[Timeline], Series]:
    def series(t: Timeline) -> Series:
        up = {
            f'up{{job="{job}", instance="{vm}"}}': _gauge(t, "1", "0" if vm == "vm3" else "1")
            for vm in VMS
        }
        leader = (
            {'consul_server_isLeader{job="consul", instance="vm1"}': _gauge(t, "1", "1")}
            if job == "consul"
            else {'nomad_nomad_autopilot_healthy{job="nomad", instance="vm1"}': _gauge(t, "1", "1")}
        )
        return up | leader

    return series


def _nomad_leader(t: Timeline) -> Series:
    # The leader's autopilot series ends (a stale marker, as a scrape without it
    # writes) when no server leads, and comes back with a new leader.
    return {'nomad_nomad_autopilot_healthy{job="nomad", instance="vm3"}': _gauge(t, "1", "stale")}


def _node_up(t: Timeline) -> Series:
    return {f'up{{job="node", instance="{vm}"}}': _gauge(t, "1", "1") for vm in VMS}


def _address(vm: str) -> str:
    labels = f'job="node", instance="{vm}", device="eth0", address="{VIP}", netmask="24"'
    return f'node_network_address_info{{{labels}, scope="global"}}'


def _vip_moves(t: Timeline) -> Series:
    # vm1 holds it; in the fault it goes back and forth with vm2 every 30 s.
    def holder(i: int) -> str:
        return "vm1" if t.phase(i) != "fault" or (i // 3) % 2 == 0 else "vm2"

    series = {
        _address(vm): ["1" if holder(i) == vm else "stale" for i in range(t.steps)]
        for vm in ("vm1", "vm2")
    }
    return _node_up(t) | series


def _vip_twice(t: Timeline) -> Series:
    return _node_up(t) | {
        _address("vm1"): _gauge(t, "1", "1"),
        _address("vm2"): _gauge(t, "stale", "1"),
    }


def _instances(down: str) -> Callable[[Timeline], Series]:
    def series(t: Timeline) -> Series:
        return {
            f'up{{job="imgcloud", service="{service}", instance="{vm}:2000{n}"}}': _gauge(
                t, "1", "0" if (service, vm) == (down, "vm2") else "1"
            )
            for service in ("backend", "worker")
            for n, vm in enumerate(VMS)
        }

    return series


def _queue(t: Timeline) -> Series:
    values, depth = [], 0
    for i in range(t.steps):
        depth = depth + 5 if t.phase(i) == "fault" else 0
        values.append(str(depth))
    labels = 'job="imgcloud", service="worker"'
    return {f'imgcloud_queue_messages{{{labels}, instance="{vm}:20001"}}': values for vm in VMS}


def _http_errors(t: Timeline) -> Series:
    labels = 'job="haproxy", instance="vm1", proxy="www"'
    return {
        f'haproxy_frontend_http_responses_total{{{labels}, code="2xx"}}': _counter(t, 100, 100),
        f'haproxy_frontend_http_responses_total{{{labels}, code="5xx"}}': _counter(t, 0, 20),
    }


def _backup(t: Timeline) -> Series:
    """Every VM's check finds a fresh backup of both, until Consul's stop coming."""
    frozen = str(t.before * STEP_S)
    fresh = [str(i * STEP_S) for i in range(t.steps)]
    return {
        'imgcloud_backup_newest_timestamp_seconds{job="node", instance="vm1", system="consul"}': [
            frozen if t.phase(i) == "fault" else fresh[i] for i in range(t.steps)
        ],
        'imgcloud_backup_newest_timestamp_seconds{job="node", instance="vm1", system="nomad"}': (
            fresh
        ),
    }


@dataclass(frozen=True)
class Case:
    alert: str
    series: Callable[[Timeline], Series]
    labels: dict[str, str]  # of the firing alert, beyond the rule's own
    fault_beyond_for_s: int = 60  # how long the fault lasts past the rule's `for`

    @property
    def id(self) -> str:
        service = self.labels.get("service")
        return f"{self.alert}[{service}]" if service else self.alert


CASES = [
    Case("VMDown", _vm_down, {"job": "node", "instance": "vm2"}),
    Case(
        "DiskNearlyFull",
        _disk,
        {
            "job": "node",
            "instance": "vm1",
            "device": "/dev/vda1",
            "fstype": "ext4",
            "mountpoint": "/",
        },
    ),
    Case(
        "CertificateExpiresSoon",
        _certificate,
        {"job": "node", "instance": "vm1", "path": "/etc/haproxy/tls/site.pem"},
    ),
    Case("ConsulNoLeader", _consul_leader, {}),
    Case("ConsulVoterMissing", _voters("consul"), {}),
    Case("NomadNoLeader", _nomad_leader, {}),
    Case("NomadVoterMissing", _voters("nomad"), {}),
    # Four moves and more: back and forth every 30 s for three minutes.
    Case("FloatingIPMovesOften", _vip_moves, {}, fault_beyond_for_s=180),
    Case("FloatingIPHeldTwice", _vip_twice, {}),
    Case("ServiceInstanceDown", _instances("backend"), {"service": "backend"}),
    Case("ServiceInstanceDown", _instances("worker"), {"service": "worker"}),
    Case("QueueGrowing", _queue, {}),
    Case("HTTPErrors", _http_errors, {}),
    # Past the maximum age (2 h by default) and its `for`.
    Case("BackupTooOld", _backup, {"system": "consul"}, fault_beyond_for_s=BACKUP_AGE_MAX_S + 60),
]


def _seconds(duration: str) -> int:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    total = 0.0
    for number, unit in re.findall(r"(\d+)(ms|s|m|h|d)", duration or "0s"):
        total += int(number) * units[unit]
    return int(total)


def _render(summary: str, labels: dict[str, str]) -> str:
    """The summary as Prometheus expands it: these rules use only `$labels.<name>`."""
    return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels.get(m.group(1), ""), summary)


@pytest.fixture(scope="module")
def rules_vm(vms: dict[str, Any], cluster_names: list[str]) -> Any:
    return vms[cluster_names[0]]


@pytest.fixture(scope="module")
def deployed_alerts(rules_vm: Any) -> list[dict[str, Any]]:
    """Every alert rule of the deployed file (one per alert, service or not)."""
    groups = yaml.safe_load(rules_vm.file(RULES).content_string)["groups"]
    alerts = [rule for group in groups for rule in group["rules"] if "alert" in rule]
    assert alerts, f"{RULES} has no alert rule"
    return alerts


@pytest.fixture(scope="module")
def vip(deployed_alerts: list[dict[str, Any]], rules_vm: Any) -> str:
    text = rules_vm.file(RULES).content_string
    match = re.search(r'address="([0-9.]+)"', text)
    assert match, f"{RULES} names no floating IP"
    return match.group(1)


def _rule(alerts: list[dict[str, Any]], case: Case) -> dict[str, Any]:
    for rule in alerts:
        wanted = {k: v for k, v in case.labels.items() if k == "service"}
        if rule["alert"] == case.alert and all(
            rule.get("labels", {}).get(k) == v for k, v in wanted.items()
        ):
            return rule
    raise AssertionError(f"{RULES} has no alert {case.id}")


def test_every_alert_has_a_case(deployed_alerts: list[dict[str, Any]]) -> None:
    deployed = {(r["alert"], r.get("labels", {}).get("service")) for r in deployed_alerts}
    tried = {(c.alert, c.labels.get("service")) for c in CASES}
    assert deployed - tried == set(), f"alerts without a case here: {sorted(deployed - tried)}"


def _expected(rule: dict[str, Any], case: Case, vip: str) -> dict[str, Any]:
    labels = {**case.labels, **rule.get("labels", {})}
    return {
        "exp_labels": labels,
        "exp_annotations": {"summary": _render(rule["annotations"]["summary"], labels)},
    }


def _test_file(rule: dict[str, Any], case: Case, vip: str) -> dict[str, Any]:
    for_s = _seconds(rule.get("for", "0s"))
    fault_s = for_s + case.fault_beyond_for_s
    t = Timeline(HEALTHY_BEFORE_S // STEP_S, fault_s // STEP_S, HEALTHY_AFTER_S // STEP_S)
    series = {name.replace(VIP, vip): values for name, values in case.series(t).items()}
    fault_start, fault_end = HEALTHY_BEFORE_S, HEALTHY_BEFORE_S + fault_s
    evals = [
        {"eval_time": f"{HEALTHY_BEFORE_S - STEP_S}s", "alertname": case.alert, "exp_alerts": []},
        {
            "eval_time": f"{fault_end - STEP_S}s",
            "alertname": case.alert,
            "exp_alerts": [_expected(rule, case, vip)],
        },
        {
            "eval_time": f"{fault_end + HEALTHY_AFTER_S - STEP_S}s",
            "alertname": case.alert,
            "exp_alerts": [],
        },
    ]
    if for_s >= 3 * STEP_S:  # the condition holds, but not yet for long enough
        evals.insert(
            1,
            {
                "eval_time": f"{fault_start + for_s // 2}s",
                "alertname": case.alert,
                "exp_alerts": [],
            },
        )
    return {
        "rule_files": [RULES],
        "evaluation_interval": f"{STEP_S}s",
        "tests": [
            {
                "interval": f"{STEP_S}s",
                "input_series": [
                    {"series": name, "values": " ".join(values)} for name, values in series.items()
                ],
                "alert_rule_test": evals,
            }
        ],
    }


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_alert_fires_on_its_condition_and_resolves(
    rules_vm: Any, deployed_alerts: list[dict[str, Any]], vip: str, case: Case
) -> None:
    rule = _rule(deployed_alerts, case)
    path = f"/tmp/imgcloud-rules-test-{case.id.replace('[', '-').rstrip(']')}.yml"
    text = yaml.safe_dump(_test_file(rule, case, vip), sort_keys=False)
    rules_vm.run_expect([0], f"cat > {path} <<'EOF'\n{text}EOF")
    result = rules_vm.run(f"promtool test rules {path}")
    rules_vm.run(f"rm -f {path}")
    assert result.rc == 0, f"promtool test rules, {case.id}:\n{result.stdout}{result.stderr}"
    assert "SUCCESS" in result.stdout + result.stderr
