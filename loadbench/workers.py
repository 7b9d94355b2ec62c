"""What the lab's workers really spent: CPU seconds per resized image during a run.

The ratio compares throughput with what the host's cores could do; on a shared host the
workers get only part of those cores. This measures the part they got: the CPU time of
every worker container (cgroup v1 `cpuacct.usage`, visible from the lab's host since the
VMs' containers live in the host's cgroup tree) and the jobs the workers finished (their
own `imgcloud_jobs_total`), so the bench can say how much of a worker's CPU goes to
resizing and how many cores the workers were given. Lab only; elsewhere it says why not.
"""

from __future__ import annotations

import re
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from loadbench.nomad import Nomad, NomadError

CGROUP_ROOT = Path("/sys/fs/cgroup/cpuacct")
JOBS = re.compile(r"^imgcloud_jobs_total\{[^}]*\}\s+([0-9.e+]+)$", re.MULTILINE)
DONE_JOBS = re.compile(
    r'^imgcloud_jobs_total\{[^}]*outcome="done"[^}]*\}\s+([0-9.e+]+)$', re.MULTILINE
)


@dataclass(frozen=True)
class Snapshot:
    cpu_ns: dict[str, int]  # worker cgroup path -> cpuacct.usage
    jobs: dict[str, float]  # worker endpoint -> imgcloud_jobs_total (every outcome)


def worker_cgroups(lab: str) -> dict[str, int]:
    """cgroup path -> CPU ns of each process tree running `imgcloud worker` in lab `lab`."""
    found: dict[str, int] = {}
    marker = re.compile(rf"/{re.escape(lab)}-vm\d+-docker/")
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            if b"worker" not in argv or not any(a.endswith(b"imgcloud") for a in argv):
                continue
            path = _cpuacct_path((proc / "cgroup").read_text())
        except OSError:
            continue  # the process ended while we looked
        if path and marker.search(path) and path not in found:
            usage = CGROUP_ROOT / path.lstrip("/") / "cpuacct.usage"
            try:
                found[path] = int(usage.read_text())
            except OSError:
                continue
    return found


def _cpuacct_path(cgroups: str) -> str | None:
    for line in cgroups.splitlines():
        _, controllers, path = line.split(":", 2)
        if "cpuacct" in controllers.split(","):
            return path
    return None


def worker_jobs(
    nomad: Nomad, job_id: str = "imgcloud-worker", counted: re.Pattern[str] = JOBS
) -> dict[str, float]:
    """Endpoint -> jobs finished so far (every outcome, or those `counted` matches),
    read from each running worker's /metrics."""
    counts = {}
    for alloc in nomad.api.allocations(job_id):
        if alloc["ClientStatus"] != "running":
            continue
        detail = nomad.api.allocation(alloc["ID"])
        for port in detail["AllocatedResources"]["Shared"]["Ports"]:
            if port["Label"] == "http":
                endpoint = f"{port['HostIP']}:{port['Value']}"
                with urllib.request.urlopen(f"http://{endpoint}/metrics", timeout=5) as answer:
                    text = answer.read().decode()
                counts[endpoint] = sum(float(v) for v in counted.findall(text))
    return counts


def snapshot(lab: str, nomad: Nomad) -> Snapshot | str:
    """The workers' CPU and jobs now, or why they cannot be read."""
    if not CGROUP_ROOT.is_dir():
        return f"no cgroup v1 cpuacct at {CGROUP_ROOT}"
    cpu = worker_cgroups(lab)
    if not cpu:
        return f"no `imgcloud worker` process of lab {lab!r} found in /proc"
    try:
        return Snapshot(cpu, worker_jobs(nomad))
    except (NomadError, OSError) as error:
        return f"worker metrics unreadable: {error}"


def spent(before: Snapshot | str, after: Snapshot | str, wall_s: float) -> dict[str, object]:
    """Worker CPU seconds, jobs and cores used between two snapshots (same workers only)."""
    if isinstance(before, str) or isinstance(after, str):
        return {"unavailable": before if isinstance(before, str) else after}
    kept = [p for p in before.cpu_ns if p in after.cpu_ns]
    if not kept or not any(e in after.jobs for e in before.jobs):
        return {
            "unavailable": "every worker was replaced during the run (Nomad rescheduled or "
            "restarted them), so no worker was measured from start to end",
            "workers_before": len(before.cpu_ns),
            "workers_after": len(after.cpu_ns),
        }
    cpu_s = (
        sum(after.cpu_ns[p] - before.cpu_ns[p] for p in before.cpu_ns if p in after.cpu_ns) / 1e9
    )
    jobs = sum(after.jobs[e] - before.jobs[e] for e in before.jobs if e in after.jobs)
    return {
        "workers": len(kept),
        "workers_replaced": len(before.cpu_ns) - len(kept),
        "cpu_s": round(cpu_s, 2),
        "jobs": int(jobs),
        "cpu_ms_per_image": round(1000 * cpu_s / jobs, 1) if jobs else None,
        "cores_used": round(cpu_s / wall_s, 3) if wall_s else None,
        "basis": "cgroup cpuacct.usage of the worker containers; jobs from their /metrics",
    }


def resized_between(
    samples: list[tuple[float, dict[str, float]]], start: float, end: float
) -> float | None:
    """Images the workers finished (`done`) per second between two wall-clock times,
    from samples of `worker_jobs(counted=DONE_JOBS)` taken during the run; only workers
    seen in both samples count (a replaced worker's jobs are not known from start to
    end). None without two samples around the window."""
    if end <= start or len(samples) < 2:
        return None
    first = min(samples, key=lambda sample: abs(sample[0] - start))
    last = min(samples, key=lambda sample: abs(sample[0] - end))
    if last[0] <= first[0]:
        return None
    common = set(first[1]) & set(last[1])
    if not common:
        return None
    done = sum(last[1][e] - first[1][e] for e in common)
    return round(done / (last[0] - first[0]), 3)
