"""What else happened on the machine during a run: CPU use, load, VMs restarted.

The lab shares this host with everything else (other people's tests and chaos
experiments too), so a figure without this context can mislead. Nothing here judges;
it is written beside the figures.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from loadbench.target import Target

PROC_STAT = Path("/proc/stat")
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


def started_at(containers: list[str]) -> dict[str, str]:
    """Container name -> Docker's State.StartedAt (or a reason it is unknown)."""
    found = {}
    for name in containers:
        done = subprocess.run(
            ["docker", "inspect", "-f", "{{.State.StartedAt}} {{.State.Status}}", name],
            capture_output=True,
            text=True,
            check=False,
        )
        found[name] = done.stdout.strip() if done.returncode == 0 else "not found"
    return found


@dataclass
class RunContext:
    """Snapshot before a run; `finish` compares with after."""

    target: Target
    ticks: tuple[int, int] = field(default_factory=cpu_ticks)
    load_before: float = field(default_factory=lambda: os.getloadavg()[0])
    containers: dict[str, str] = field(default_factory=dict)

    baseline_busy_percent: float | None = None

    def __post_init__(self) -> None:
        self.containers = started_at(self._lab_containers())
        self.baseline_busy_percent = busy_percent_over(BASELINE_S)
        self.ticks = cpu_ticks()

    def _lab_containers(self) -> list[str]:
        return [n.container for n in self.target.nodes if self.target.lab and n.container]

    def finish(self) -> dict[str, object]:
        busy_before, total_before = self.ticks
        busy, total = cpu_ticks()
        after = started_at(self._lab_containers())
        changed = sorted(name for name, state in after.items() if state != self.containers[name])
        span = total - total_before
        return {
            "host_cpus": os.cpu_count(),
            "host_cpu_busy_percent_before_run": self.baseline_busy_percent,
            "host_cpu_busy_percent": round(100 * (busy - busy_before) / span, 1) if span else None,
            "host_load_avg_1m": {"before": self.load_before, "after": os.getloadavg()[0]},
            "lab_vms_restarted_or_stopped": changed,
            "note": ("host-wide: includes everything on this machine, not only the lab and Locust"),
        }
