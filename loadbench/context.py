"""What else happened on the machine during a run: CPU use, load, VMs restarted.

The lab shares this host with everything else (other people's tests and chaos
experiments too), so a figure without this context can mislead. Nothing here judges;
it is written beside the figures.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from loadbench import workers
from loadbench.nomad import Nomad, NomadError
from loadbench.target import Target


def lab_name() -> str:
    return os.environ.get("IMGCLOUD_LAB_NAME", "imgcloud")


# A lab's containers are <lab>-vm<N>, <lab>-provider and <lab>-bastion.
_LAB_CONTAINER = re.compile(r"^(?P<lab>.+)-(?:vm\d+|provider|bastion)$")
# Above this share of the host's CPU spent by neither the lab nor the bench, a
# figure is the host's more than the cluster's.
QUIET_FOREIGN_PERCENT = 10.0


def other_labs(own: str) -> list[str]:
    """The other labs running on this host (they share its cores with ours)."""
    done = subprocess.run(
        ["docker", "ps", "--format", "{{.Names}}"], capture_output=True, text=True, check=False
    )
    labs = {
        match["lab"]
        for name in done.stdout.split()
        if (match := _LAB_CONTAINER.match(name)) and match["lab"] != own
    }
    return sorted(labs)


def host_state(
    busy_percent: float | None, ours_cores: float, cores: int, others: list[str]
) -> dict[str, object]:
    """Was the host quiet? `busy_percent` is the whole host's over a window in which
    the lab and the bench (`ours_cores`: their CPU seconds per second) ran idle."""
    if busy_percent is None:
        return {"quiet": False, "warning": "the host's CPU use could not be read"}
    foreign = round(max(0.0, busy_percent - 100 * ours_cores / cores), 1)
    problems = []
    if foreign > QUIET_FOREIGN_PERCENT:
        problems.append(
            f"{foreign} % of the host's CPU went to neither the lab nor the bench "
            f"(quiet is <= {QUIET_FOREIGN_PERCENT:g} %)"
        )
    if others:
        problems.append(f"other labs run on this host: {', '.join(others)}")
    state: dict[str, object] = {
        "quiet": not problems,
        "host_busy_percent": busy_percent,
        "lab_and_bench_percent": round(100 * ours_cores / cores, 1),
        "foreign_percent": foreign,
        "other_labs": others,
        "load_avg_1m": os.getloadavg()[0],
    }
    if problems:
        state["warning"] = "busy host: " + "; ".join(problems) + ": figures are the host's"
    return state


PROC_STAT = Path("/proc/stat")
CPUACCT = Path("/sys/fs/cgroup/cpuacct")
BASELINE_S = 5.0  # how long to watch the host before the load starts


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot; (0, 0) where /proc/stat is missing."""
    try:
        fields = PROC_STAT.read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0, 0
    values = [int(v) for v in fields[:8]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def busy_percent_over(seconds: float) -> float | None:
    """Host CPU busy percentage measured over the next `seconds` (a measurement window)."""
    busy_before, total_before = cpu_ticks()
    time.sleep(seconds)
    busy, total = cpu_ticks()
    span = total - total_before
    return round(100 * (busy - busy_before) / span, 1) if span else None


def docker_inspect(name: str, template: str) -> str | None:
    """`docker inspect -f template name`, or None when there is no such container."""
    done = subprocess.run(
        ["docker", "inspect", "-f", template, name], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() if done.returncode == 0 else None


def container_cpu_ns(containers: list[str]) -> dict[str, int]:
    """Container name -> CPU ns of its whole cgroup (a lab VM's includes its own containers)."""
    found = {}
    for name in containers:
        container_id = docker_inspect(name, "{{.Id}}")
        usage = CPUACCT / "docker" / (container_id or "") / "cpuacct.usage"
        if container_id and usage.is_file():
            found[name] = int(usage.read_text())
    return found


def started_at(containers: list[str]) -> dict[str, str]:
    """Container name -> Docker's State.StartedAt (or a reason it is unknown)."""
    return {
        name: docker_inspect(name, "{{.State.StartedAt}} {{.State.Status}}") or "not found"
        for name in containers
    }


@dataclass
class RunContext:
    """Snapshot before a run; `finish` compares with after."""

    target: Target
    ticks: tuple[int, int] = field(default_factory=cpu_ticks)
    load_before: float = field(default_factory=lambda: os.getloadavg()[0])
    containers: dict[str, str] = field(default_factory=dict)

    baseline_busy_percent: float | None = None

    workers_before: workers.Snapshot | str = "not a lab"
    started: float = 0.0

    def __post_init__(self) -> None:
        self.containers = started_at(self._lab_containers())
        self.baseline_busy_percent = busy_percent_over(BASELINE_S)
        if self.target.lab and self.target.nodes:
            try:
                self.nomad = Nomad.for_target(self.target)
            except NomadError as error:  # no credentials: the run goes on without this figure
                self.workers_before = f"worker metrics unreadable: {error}"
            else:
                self.workers_before = workers.snapshot(lab_name(), self.nomad)
        self.lab_cpu = container_cpu_ns(self._all_lab_containers())
        self.children_cpu = _children_cpu_s()
        self.ticks = cpu_ticks()
        self.started = time.monotonic()

    def _all_lab_containers(self) -> list[str]:
        if not self.target.lab:
            return []
        return [f"{lab_name()}-bastion", f"{lab_name()}-provider", *self._lab_containers()]

    def _lab_containers(self) -> list[str]:
        return [n.container for n in self.target.nodes if self.target.lab and n.container]

    def finish(self) -> dict[str, object]:
        busy_before, total_before = self.ticks
        busy, total = cpu_ticks()
        wall = time.monotonic() - self.started
        workers_after: workers.Snapshot | str = self.workers_before
        if not isinstance(self.workers_before, str):
            workers_after = workers.snapshot(lab_name(), self.nomad)
        after = started_at(self._lab_containers())
        lab_cpu = container_cpu_ns(self._all_lab_containers())
        lab_cpu_s = {
            name: round((lab_cpu[name] - self.lab_cpu[name]) / 1e9, 2)
            for name in self.lab_cpu
            if name in lab_cpu and lab_cpu[name] >= self.lab_cpu[name]
        }
        changed = sorted(name for name, state in after.items() if state != self.containers[name])
        span = total - total_before
        return {
            "host_cpus": os.cpu_count(),
            "host_cpu_busy_percent_before_run": self.baseline_busy_percent,
            "host_cpu_busy_percent": round(100 * (busy - busy_before) / span, 1) if span else None,
            "host_load_avg_1m": {"before": self.load_before, "after": os.getloadavg()[0]},
            "lab_vms_restarted_or_stopped": changed,
            "lab_workers": workers.spent(self.workers_before, workers_after, wall),
            "lab_containers_cpu_s": lab_cpu_s,
            "locust_cpu_s": round(_children_cpu_s() - self.children_cpu, 2),
            "wall_s": round(wall, 1),
            "note": ("host-wide: includes everything on this machine, not only the lab and Locust"),
        }


def _children_cpu_s() -> float:
    """CPU seconds of finished child processes (Locust runs as one)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
