"""One bench run: Locust for a fixed load, the raw worker speed, the ratio, the report."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deploy.site import tls_context
from loadbench import images, locust_run, plots, raw, results
from loadbench.context import RunContext
from loadbench.target import Target

TARGET_RATIO = 0.6


@dataclass(frozen=True)
class Cores:
    """How many cores the cluster's workers can use, and why we believe that number."""

    count: int
    basis: str


def cores_for(target: Target, given: int | None, worker_vms: int | None = None) -> Cores:
    """The ratio's denominator in cores, said honestly.

    In the lab every VM is a container on this machine, so however many VMs run a worker
    they share this host's CPUs, with Locust, HAProxy, RabbitMQ and MinIO on them too.
    On real VMs the operator says how many cores all worker VMs have together; a scaling
    step with fewer worker VMs gets its share.
    """
    host = os.cpu_count() or 1
    if given is not None:
        if given < 1:
            raise ValueError(f"--cores must be >= 1, not {given}")
        nodes = len(target.nodes) or 1
        if worker_vms is None or target.lab:
            return Cores(given, f"given with --cores ({given})")
        share = max(1, round(given * worker_vms / nodes))
        return Cores(share, f"--cores {given} for {nodes} VMs, {worker_vms} of them with workers")
    if target.lab or target.on_this_host:
        where = "lab VMs are containers on" if target.lab else "the service runs on"
        return Cores(
            host,
            f"{where} this {host}-CPU host (os.cpu_count()), shared with the load generator "
            "and every other part of the service (HAProxy, backends, RabbitMQ, MinIO); "
            "not 3 VMs' worth",
        )
    raise ValueError(
        f"how many cores can the workers at {target.url} use? give --cores "
        "(the CPUs of every VM running a worker, together)"
    )


def wait_healthy(url: str, ca: Path | None = None, timeout_s: float = 60.0) -> None:
    """Wait until `<url>healthz` answers 200, or fail saying what it answered. HTTPS is
    checked against `ca` (deploy.site; None: the system's roots)."""
    context = tls_context(ca)
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "healthz", timeout=5, context=context) as answer:
                if answer.status == 200:
                    return
                last = f"HTTP {answer.status}"
        except urllib.error.HTTPError as error:
            last = f"HTTP {error.code}"
        except OSError as error:
            last = str(error)
        time.sleep(1)
    raise RuntimeError(f"{url}healthz did not answer 200 within {timeout_s:.0f} s: {last}")


def mix_weights(mix: str) -> dict[str, int]:
    """`2mp=3,12mp=1` -> {"2mp": 3, "12mp": 1}; a ValueError naming what is wrong."""
    weights = {}
    for item in filter(None, (part.strip() for part in mix.split(","))):
        label, _, weight = item.partition("=")
        if label.strip() not in images.SIZES or not weight.strip().isdigit():
            raise ValueError(f"upload mix: {item!r} is not one of {sorted(images.SIZES)}=weight")
        weights[label.strip()] = int(weight)
    if not any(weights.values()):
        raise ValueError(f"upload mix {mix!r} has no upload with a weight above 0")
    return weights


def warmup_for(duration_s: int) -> float:
    return min(20.0, duration_s / 4)


def run_load(target: Target, load: locust_run.Load, out: Path, name: str) -> dict[str, Any]:
    """Locust against the target, its figures, and the timeline plot; the summary part."""
    wait_healthy(target.url, target.ca)
    images.pool(mix_weights(load.mix))  # generate before the clock starts, not during
    context = RunContext(target)
    files = locust_run.run(target.url, load, out, name, target.env)
    machine = context.finish()
    warmup = warmup_for(load.duration_s)
    figs = results.figures(files.stats, files.history, warmup)
    points = results.timeline(results.read_rows(files.history))
    title = f"{target.url}  {load.users} users, {load.duration_s} s, mix {load.mix}"
    png = plots.timeline(points, warmup, title, out / f"{name}_timeline.png")
    summary = figs.as_json() | {"machine_during_run": machine}
    summary["files"] = {key: str(path) for key, path in files.all().items()} | {
        "timeline_png": str(png)
    }
    return summary


def ratio(throughput: float, speed: raw.RawSpeed, cores: Cores) -> dict[str, object]:
    ceiling = speed.images_per_s_per_core * cores.count
    value = throughput / ceiling if ceiling else 0.0
    return {
        "value": round(value, 3),
        "target": TARGET_RATIO,
        "meets_target": value >= TARGET_RATIO,
        "formula": "cluster images/s / (raw images/s per core x cores)",
        "cluster_images_per_s": round(throughput, 3),
        "raw_images_per_s_per_core": round(speed.images_per_s_per_core, 3),
        "cores": cores.count,
        "cores_basis": cores.basis,
        "ceiling_images_per_s": round(ceiling, 3),
    }


def worker_cpu_view(machine: dict[str, Any], speed: raw.RawSpeed) -> dict[str, object]:
    """Where the CPU per image went: the workers, the whole lab, against the raw pipeline.

    The ratio divides by every core of the host; on a shared host the lab gets only some.
    Here: the CPU the workers and the whole lab (VMs, provider) really used per image the
    workers finished, and the share of it resizing alone needs (raw CPU ms / CPU ms).
    """
    lab_workers = machine.get("lab_workers", {})
    per_image = lab_workers.get("cpu_ms_per_image")
    if not isinstance(per_image, int | float) or not per_image:
        return {"unavailable": lab_workers.get("unavailable", "no worker CPU measured")}
    raw_ms = 1000 / speed.images_per_s_per_core
    lab_cpu_s = sum(machine.get("lab_containers_cpu_s", {}).values())
    lab_ms = 1000 * lab_cpu_s / lab_workers["jobs"]
    wall = machine.get("wall_s") or 0
    return {
        "worker_cores_used": lab_workers.get("cores_used"),
        "lab_cores_used": round(lab_cpu_s / wall, 3) if wall else None,
        "worker_cpu_ms_per_image": per_image,
        "lab_cpu_ms_per_image": round(lab_ms, 1),
        "raw_cpu_ms_per_image": round(raw_ms, 1),
        "resize_share_of_worker_cpu": round(raw_ms / per_image, 3),
        "resize_share_of_lab_cpu": round(raw_ms / lab_ms, 3) if lab_ms else None,
        "note": "jobs include any other uploads to the shared lab during the run; the lab's "
        "CPU includes its idle Consul, Nomad and systemd; Locust's is in locust_cpu_s",
    }


def bench(
    target: Target,
    load: locust_run.Load,
    out: Path,
    cores: Cores,
    repeats: int = 5,
) -> dict[str, object]:
    """The full bench: load, raw speed, ratio; writes and returns `summary.json`."""
    summary: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "target": {"url": target.url, "source": target.source},
        "load": {
            "users": load.users,
            "spawn_rate": load.spawn_rate,
            "duration_s": load.duration_s,
            "warmup_s": warmup_for(load.duration_s),
            "mix": load.mix,
        },
        "host_cpus": os.cpu_count(),
    }
    summary |= run_load(target, load, out, "locust")
    speed = raw.measure(mix_weights(load.mix), repeats=repeats)
    summary["raw_worker_speed"] = speed.as_json()
    summary["ratio"] = ratio(summary["resize_throughput"]["images_per_s"], speed, cores)
    summary["worker_cpu_view"] = worker_cpu_view(summary["machine_during_run"], speed)
    write_json(out / "summary.json", summary)
    return summary


def write_json(path: Path, data: dict[str, object]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path
