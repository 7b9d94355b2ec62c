"""The bench with workers on 1, 2 and 3 VMs: throughput for each, plotted.

Each step scales the worker job's group down through Nomad's API (Nomad stops the extra
allocations gracefully: they leave Consul, finish or hand back their messages), waits
until exactly that many healthy workers run, runs the same Locust load, and records
where the workers ran. The job is always scaled back to its original count at the end,
also on errors and Ctrl-C, and the bench waits until every worker is healthy again.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from loadbench import bench, plots, raw
from loadbench.locust_run import Load
from loadbench.nomad import Nomad, NomadError
from loadbench.target import Target

WORKER_JOB = "imgcloud-worker"
WORKER_GROUP = "worker"
SETTLE_TIMEOUT_S = 300.0


@contextmanager
def terminate_as_exit() -> Iterator[None]:
    """Turn SIGTERM (tox, CI cancelling) into SystemExit so the restore still runs."""

    def _exit(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, _exit)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def workers_restored(nomad: Nomad, original: int) -> Iterator[None]:
    """Whatever happens inside, scale the workers back to `original` and wait for health."""
    try:
        yield
    finally:
        print(f"restoring {WORKER_JOB} to {original} workers")
        nomad.ensure_count(WORKER_JOB, WORKER_GROUP, original, "loadbench: restore after scaling")
        placement = nomad.wait_running(WORKER_JOB, WORKER_GROUP, original, SETTLE_TIMEOUT_S)
        print(f"workers healthy again on {', '.join(placement.nodes)}")


def set_workers(nomad: Nomad, count: int) -> tuple[str, ...]:
    nomad.ensure_count(WORKER_JOB, WORKER_GROUP, count, f"loadbench: scaling step, {count} VMs")
    return nomad.wait_running(WORKER_JOB, WORKER_GROUP, count, SETTLE_TIMEOUT_S).nodes


def step(
    target: Target, nomad: Nomad, load: Load, count: int, out: Path, cores: bench.Cores
) -> dict[str, Any]:
    """One scaling step: `count` worker VMs, the load, and where the workers really were."""
    nodes = set_workers(nomad, count)
    print(f"{count} worker VM(s) on {', '.join(nodes)}: running {load.duration_s} s of load")
    summary = bench.run_load(target, load, out, f"scale-{count}vm")
    try:
        after: list[str] | str = list(nomad.placement(WORKER_JOB, WORKER_GROUP).nodes)
    except NomadError as error:
        after = f"unknown: {error}"
    throughput = summary["resize_throughput"]["images_per_s"]
    print(f"  {throughput} images/s")
    return {
        "worker_vms": count,
        "worker_nodes": list(nodes),
        "worker_nodes_after": after,
        "cores": cores.count,
        "cores_basis": cores.basis,
    } | summary


def run(
    target: Target,
    load: Load,
    counts: list[int],
    out: Path,
    cores_given: int | None,
    repeats: int = 5,
) -> dict[str, object]:
    """Run every step, restore the workers, write `scaling.json` and `scaling.png`."""
    if not target.nodes:
        raise NomadError("scaling needs the cluster's nodes: use the lab or give --inventory")
    if any(n < 1 or n > len(target.nodes) for n in counts):
        raise ValueError(f"worker VM counts {counts} must lie within 1..{len(target.nodes)}")
    nomad = Nomad.for_target(target)
    original = nomad.group_count(WORKER_JOB, WORKER_GROUP)
    speed = raw.measure(bench.mix_weights(load.mix), repeats=repeats)
    steps: list[dict[str, Any]] = []
    with terminate_as_exit(), workers_restored(nomad, original):
        for count in counts:
            cores = bench.cores_for(target, cores_given, worker_vms=count)
            steps.append(step(target, nomad, load, count, out, cores))
    for entry in steps:
        cores = bench.Cores(entry["cores"], entry["cores_basis"])
        entry["ratio"] = bench.ratio(entry["resize_throughput"]["images_per_s"], speed, cores)
        entry["worker_cpu_view"] = bench.worker_cpu_view(entry["machine_during_run"], speed)
    ceilings = {entry["ratio"]["ceiling_images_per_s"] for entry in steps}
    ceiling = ceilings.pop() if len(ceilings) == 1 else None
    points = [(e["worker_vms"], e["resize_throughput"]["images_per_s"]) for e in steps]
    png = plots.scaling(
        points,
        ceiling,
        f"{target.url}: {load.users} users, {load.duration_s} s per step",
        out / "scaling.png",
    )
    result: dict[str, object] = {
        "target": {"url": target.url, "source": target.source},
        "load": {"users": load.users, "duration_s": load.duration_s, "mix": load.mix},
        "raw_worker_speed": speed.as_json(),
        "restored_workers": original,
        "steps": steps,
        "plot": str(png),
    }
    bench.write_json(out / "scaling.json", result)
    return result
