"""Is the cluster whole? Every server a voter under one leader, every VM running
every app, HAProxy seeing every backend up, the floating IP on exactly one VM.

`evaluate` is pure (probe documents in, problems out) so it is unit-tested on
hand-made documents; `wait_healthy` polls the VMs until it returns no problem.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from chaos import probes
from chaos.remote import Executor, run
from chaos.target import Target
from deploy.site import tls_context

Probe = dict[str, Any]


def _raft_problems(system: str, docs: dict[str, Probe], target: Target) -> list[str]:
    problems: list[str] = []
    leaders: set[str] = set()
    for name, doc in docs.items():
        raft = doc.get(f"{system.lower()}_raft") or {}
        servers = raft.get("Servers") if isinstance(raft, dict) else None
        if not servers:
            problems.append(f"{system} on {name}: no raft configuration ({raft.get('error')})")
            continue
        voters = [s for s in servers if s.get("Voter")]
        leading = [s.get("Address", "") for s in servers if s.get("Leader")]
        if len(voters) != len(target.vms) or len(servers) != len(target.vms):
            problems.append(
                f"{system} on {name}: {len(voters)} voters of {len(servers)} servers, "
                f"want {len(target.vms)}"
            )
        if len(leading) != 1:
            problems.append(f"{system} on {name}: {len(leading)} leaders")
        leaders.update(target.name_of(a) or a for a in leading)
    if len(leaders) > 1:
        problems.append(f"{system}: the VMs name different leaders {sorted(leaders)}")
    return problems


def _nomad_problems(doc: Probe, target: Target) -> list[str]:
    nodes, jobs, allocs = doc.get("nomad_nodes"), doc.get("nomad_jobs"), doc.get("nomad_allocs")
    if not isinstance(nodes, list) or not isinstance(jobs, list) or not isinstance(allocs, list):
        return ["Nomad: cannot list nodes, jobs and allocations"]
    problems: list[str] = []
    node_of: dict[str, str] = {}
    for node in nodes:
        name = target.name_of(node.get("Address", "")) or node.get("Name", "")
        if name not in target.names() or node.get("Status") == "down":
            continue
        node_of[node.get("ID", "")] = name
        if node.get("Status") != "ready" or node.get("SchedulingEligibility") != "eligible":
            problems.append(
                f"Nomad node {name}: {node.get('Status')}, {node.get('SchedulingEligibility')}"
            )
    missing = set(target.names()) - set(node_of.values())
    problems += [f"Nomad node {name}: not registered" for name in sorted(missing)]
    live = [j for j in jobs if j.get("Status") == "running" and not j.get("Stop")]
    if not live:
        problems.append("Nomad: no running job (is the service deployed?)")
    for job in live:
        running = {
            node_of.get(a.get("NodeID", ""))
            for a in allocs
            if a.get("JobID") == job.get("ID") and a.get("ClientStatus") == "running"
        }
        for name in target.names():
            if name not in running:
                problems.append(f"Nomad job {job.get('ID')}: nothing running on {name}")
    return problems


def haproxy_up_counts(stats: str) -> dict[str, tuple[int, int]]:
    """Per backend: (servers UP, server slots) from HAProxy's `show stat` CSV."""
    counts: dict[str, tuple[int, int]] = {}
    reader = csv.DictReader(io.StringIO(stats.lstrip("# ")))
    for row in reader:
        backend, server = row.get("pxname", ""), row.get("svname", "")
        if server in ("FRONTEND", "BACKEND", "") or backend.startswith("stats"):
            continue
        up, slots = counts.get(backend, (0, 0))
        counts[backend] = (up + (row.get("status") == "UP"), slots + 1)
    return counts


def _haproxy_problems(name: str, doc: Probe, target: Target) -> list[str]:
    stats = doc.get("haproxy")
    if not isinstance(stats, str) or "pxname" not in stats:
        return [f"HAProxy on {name}: no stats"]
    counts = haproxy_up_counts(stats)
    if not counts:
        return [f"HAProxy on {name}: no backend servers"]
    return [
        f"HAProxy on {name}: backend {backend} has {up} servers UP, want {len(target.vms)}"
        for backend, (up, _) in sorted(counts.items())
        if up < len(target.vms)
    ]


def evaluate(docs: dict[str, Probe | None], target: Target) -> list[str]:
    """Every reason the cluster is not whole; empty when it is."""
    problems = [f"{name}: does not answer" for name, doc in docs.items() if doc is None]
    answered = {name: doc for name, doc in docs.items() if doc is not None}
    if not answered:
        return problems
    problems += _raft_problems("Consul", answered, target)
    problems += _raft_problems("Nomad", answered, target)
    first_name, first = next(iter(answered.items()))
    problems += _nomad_problems(first, target)
    critical = first.get("consul_critical")  # the catalog is cluster-wide: one view is enough
    if isinstance(critical, list) and critical:
        checks = sorted({f"{c.get('Node')}/{c.get('Name')}" for c in critical})
        problems.append(f"Consul (asked {first_name}): critical checks {checks[:4]}")
    for name, doc in answered.items():
        problems += _haproxy_problems(name, doc, target)
    holders = [name for name, doc in answered.items() if doc.get("vip")]
    if len(holders) != 1:
        problems.append(f"floating IP held by {holders or 'no VM'}, want exactly one")
    return problems


def probe(executor: Executor, target: Target, stats_port: int = 8404) -> dict[str, Probe | None]:
    """Run the health probe on every VM at once, with the management tokens on its stdin."""
    creds = target.credentials
    tokens = probes.health_input(
        creds.consul_token if creds else "", creds.nomad_token if creds else ""
    )

    def one(vm_name: str) -> Probe | None:
        vm = target.vm(vm_name)
        stats_url = f"http://{vm.address}:{stats_port}/stats;csv"
        done = run(
            executor, vm, probes.health_command(target.vip, stats_url), timeout=15, stdin=tokens
        )
        if done.returncode != 0:
            return None
        try:
            return json.loads(done.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return None

    with ThreadPoolExecutor(len(target.vms)) as pool:
        return dict(zip(target.names(), pool.map(one, target.names()), strict=True))


def _bearer(target: Target) -> dict[str, str]:
    return {"Authorization": f"Bearer {target.api_token}"} if target.api_token else {}


def service_problems(target: Target) -> list[str]:
    """The service answers through the floating IP: alive, and its images readable.
    (Readiness with its checks, /readyz, answers on the VMs' own addresses only.)"""
    problems = []
    verify = tls_context(target.ca)
    for path in ("healthz", "api/images?limit=1"):
        try:
            answer = httpx.get(target.url + path, timeout=5, headers=_bearer(target), verify=verify)
            if answer.status_code != 200:
                problems.append(f"{target.url}{path}: {answer.status_code}")
        except httpx.HTTPError as exc:
            problems.append(f"{target.url}{path}: {type(exc).__name__}")
    return problems


def wait_healthy(
    executor: Executor,
    target: Target,
    deadline_s: float,
    on_poll: Callable[[list[str]], None] | None = None,
) -> list[str]:
    """Poll until the cluster is whole and serving; the last problems seen ([] on success)."""
    end = time.monotonic() + deadline_s
    problems = ["never probed"]
    while time.monotonic() < end:
        problems = evaluate(probe(executor, target), target) + service_problems(target)
        if on_poll:
            on_poll(problems)
        if not problems:
            return []
        time.sleep(1)
    return problems
