"""Where the host's CPU goes, by component: worker, backend, HAProxy, Consul, MinIO, …

In the lab every VM is a container on this host, so every process of the cluster,
the provider and the load generator is in the host's process table. A snapshot sums
each process's CPU time (`/proc/<pid>/stat`: user + system, with its waited-for
children) under the component its command line names; the difference of two
snapshots is what each component spent between them. Reading processes rather than
cgroup files keeps this the same on cgroup v1 and v2 hosts, and names the component
even where several share one cgroup (a VM's systemd units under one container).
A process that exits between two snapshots takes its last slice with it; the
components measured here are long-running daemons.

Pure where it can be: `component()` and `spent()` test on recorded command lines.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

# (component, words that name it in a process's command name or arguments); the first
# match wins, so the apps come before the generic names their arguments contain.
COMPONENTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("worker", ("imgcloud worker",)),
    ("backend", ("imgcloud backend",)),
    ("frontend", ("imgcloud frontend",)),
    ("load generator", ("locust",)),
    ("haproxy", ("haproxy",)),
    ("keepalived", ("keepalived", "imgcloud-witness")),
    ("consul", ("consul ",)),
    ("nomad", ("nomad ",)),
    ("registry", ("docker-registry",)),
    ("docker", ("dockerd", "containerd", "docker-proxy")),
    ("minio", ("minio",)),
    ("rabbitmq", ("beam.smp", "rabbit", "epmd", "erl_child_setup", "inet_gethost")),
    ("toxiproxy", ("toxiproxy",)),
    ("systemd", ("systemd", "/sbin/init", "dbus-daemon")),
    ("ssh, ansible", ("sshd", "ssh ", "ansible")),
    ("kernel", ("kworker/", "ksoftirqd/", "kswapd", "rcu_", "kcompactd")),
)
OTHER = "other"


@dataclass(frozen=True)
class Process:
    pid: int
    start_ticks: int  # since boot: tells a reused pid from the process before it
    command: str
    cpu_ticks: int


def component(command: str) -> str:
    """The component a process's command line names ('other' when none)."""
    text = f"{command} "
    for name, words in COMPONENTS:
        if any(word in text for word in words):
            return name
    return OTHER


def _read(pid_dir: Path) -> Process | None:
    try:
        stat = (pid_dir / "stat").read_text()
        args = (pid_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:  # gone between the listing and the read
        return None
    # The command name is in parentheses and may hold spaces: split after its last ')'.
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime, cutime, cstime = (int(fields[i]) for i in (11, 12, 13, 14))
    start = int(fields[19])
    return Process(int(pid_dir.name), start, args.strip() or name, utime + stime + cutime + cstime)


def processes(proc: Path = PROC) -> list[Process]:
    found = []
    for entry in proc.iterdir():
        if entry.name.isdigit():
            one = _read(entry)
            if one is not None:
                found.append(one)
    return found


Snapshot = Mapping[tuple[int, int], tuple[str, int]]  # (pid, start) -> (component, ticks)


def snapshot(proc: Path = PROC) -> dict[tuple[int, int], tuple[str, int]]:
    return {(p.pid, p.start_ticks): (component(p.command), p.cpu_ticks) for p in processes(proc)}


def spent(before: Snapshot, after: Snapshot, ticks_per_s: float = TICKS_PER_S) -> dict[str, float]:
    """CPU seconds each component spent between two snapshots (new processes from 0)."""
    out: dict[str, float] = {}
    for key, (name, ticks) in after.items():
        earlier = before.get(key, (name, 0))[1]
        out[name] = out.get(name, 0.0) + max(0, ticks - earlier) / ticks_per_s
    return {name: round(seconds, 3) for name, seconds in sorted(out.items())}


def per_image_ms(
    busy_s: Mapping[str, float], idle_s_per_s: Mapping[str, float], wall_s: float, images: int
) -> dict[str, dict[str, float]]:
    """Per component: CPU ms per image under load, and the part its idle rate explains."""
    if images <= 0 or wall_s <= 0:
        return {}
    names: Iterable[str] = sorted(set(busy_s) | set(idle_s_per_s))
    return {
        name: {
            "ms_per_image": round(1000 * busy_s.get(name, 0.0) / images, 1),
            "idle_ms_per_image": round(1000 * idle_s_per_s.get(name, 0.0) * wall_s / images, 1),
        }
        for name in names
    }
