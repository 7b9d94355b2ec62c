"""Watching a cluster change size under traffic: the chaos suite's steady client
through the floating IP and one observer per VM (a VM that joins gets its own), one
journal; then the verdicts a user relies on while VMs come and go."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from chaos import checkers, hostinfo, timeline
from chaos.client import SteadyClient
from chaos.journal import History, Journal
from chaos.observer import Observer
from chaos.remote import executor_for
from chaos.target import Target
from deploy import ROOT

# Samples are 0.25 s apart per VM; a stretch shorter than this without any VM
# naming a leader is one sample caught mid-handover, not the cluster leaderless.
LEADERLESS_ALLOWED_S = 0.6
MIN_OPERATIONS = 100
JOURNALS = ROOT / "reports" / "scale"


def run_module(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m <args>` from the repository, output kept for the failure message."""
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


class UnderTraffic:
    def __init__(self, target: Target) -> None:
        self.target = target
        self.executor = executor_for(target)
        self.journal = Journal()
        self._observers = [Observer(self.executor, target, self.journal)]
        self._client = SteadyClient(target.url, self.journal, token=target.api_token, ca=target.ca)
        self._host_before: dict[str, Any] = {}
        self.host: dict[str, Any] = {}

    def start(self) -> None:
        self._host_before = hostinfo.snapshot()
        self._observers[0].start()
        self._client.start()
        self.event("start")

    def event(self, name: str, **detail: Any) -> None:
        self.journal.event(time.time(), name, **detail)

    def resized(self, target: Target) -> None:
        """The cluster is now `target`: watch the VMs that joined (a VM that left
        stops answering its observer, which keeps trying)."""
        new = tuple(vm for vm in target.vms if vm.name not in self.target.names())
        if new:
            observer = Observer(self.executor, target, self.journal, watch=new)
            observer.start()
            self._observers.append(observer)
        self.target = target

    def finish(self, name: str) -> History:
        self.event("traffic-end")
        self._client.stop()
        self._client.verify(deadline_s=90)
        self._client.close()
        for observer in self._observers:
            observer.stop()
        self.host = hostinfo.between(self._host_before, hostinfo.snapshot())
        self.event("end", host=self.host)
        self.journal.write(JOURNALS / f"{name}.jsonl")
        return self.journal.snapshot()


def problems(history: History, names: list[str]) -> tuple[list[str], dict[str, Any]]:
    """Everything a user would have noticed, and the figures."""
    fig = checkers.figures(history, names)
    t0, t1 = history.time_of("start") or 0.0, history.time_of("traffic-end") or 0.0
    found = []
    if fig["ops"] < MIN_OPERATIONS:
        found.append(f"too little traffic to judge: {fig['ops']} operations")
    if fig["failed"]:
        found.append(f"{fig['failed']} requests failed: {fig['failed_by_reason']}")
    found += [f"{v.check}: {v.got}" for v in checkers.history_verdicts(fig) if not v.ok]
    for field in ("consul_leader", "nomad_leader"):
        gap = timeline.longest_leaderless(history.samples, field, t0, t1, set(names))
        fig[f"{field}_longest_without_s"] = gap
        if gap > LEADERLESS_ALLOWED_S:
            found.append(f"{field}: {gap:.2f} s without a leader")
    if fig["split_brain"]:
        found.append(f"two floating-IP holders: {fig['split_brain']}")
    return found, fig


def summary(what: str, seconds: float, fig: dict[str, Any], host: dict[str, Any]) -> str:
    return (
        f"{what} in {seconds:.0f} s: {fig['ops']} operations, {fig['failed']} failed; "
        f"longest without a Consul leader {fig['consul_leader_longest_without_s']:.2f} s, "
        f"Nomad {fig['nomad_leader_longest_without_s']:.2f} s; leader changes Consul "
        f"{fig['consul_leader_changes']}, Nomad {fig['nomad_leader_changes']}; host "
        f"{host.get('busy_pct')} % busy over {host.get('cores')} cores"
    )


def write_line(name: str, line: str) -> None:
    JOURNALS.mkdir(parents=True, exist_ok=True)
    with Path(JOURNALS / "summary.txt").open("a") as out:
        out.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {name}: {line}\n")
