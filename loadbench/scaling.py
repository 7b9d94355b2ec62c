"""Workers on 1, 2 and 3 VMs, kept busy: what each resizes, plotted.

Each step scales the worker job's group down through Nomad's API (Nomad stops the extra
allocations gracefully: they leave Consul, finish or hand back their messages), waits
until exactly that many healthy workers run, and sends uploads in open loop at a rate
past the knee (loadbench.saturation), so the cluster, not the users' pacing,
sets what is resized; it records where the workers ran, and waits for the backlog to
drain before the next step. The job is always scaled back to its original count at the end,
also on errors and Ctrl-C, and the bench waits until every worker is healthy again.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from loadbench import bench, plots, raw, saturation
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


@dataclass(frozen=True)
class Saturation:
    """The load of every scaling step: uploads arriving faster than the cluster resizes."""

    rate_per_s: float = 12.0
    step_s: float = 60.0
    mix: str = "2mp=1"


def step(
    target: Target, nomad: Nomad, load: Saturation, count: int, out: Path, cores: bench.Cores
) -> dict[str, Any]:
    """One scaling step: `count` worker VMs, the load, and where the workers really were."""
    nodes = set_workers(nomad, count)
    print(f"{count} worker VM(s) on {', '.join(nodes)}: {load.rate_per_s:g} uploads/s for "
          f"{load.step_s:g} s")  # fmt: skip
    result = saturation.saturate(
        target, nomad, load.rate_per_s, load.step_s, load.mix, out, f"scale-{count}vm"
    )
    try:
        after: list[str] | str = list(nomad.placement(WORKER_JOB, WORKER_GROUP).nodes)
    except NomadError as error:
        after = f"unknown: {error}"
    saturated = "" if result["saturated"] else " (NOT saturated: raise --scale-rate)"
    print(f"  {result['resized_per_s']} images/s resized{saturated}")
    return {
        "worker_vms": count,
        "worker_nodes": list(nodes),
        "worker_nodes_after": after,
        "cores": cores.count,
        "cores_basis": cores.basis,
    } | result


def run(
    target: Target,
    load: Saturation,
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
    bench.wait_healthy(target.url, target.ca)
    out.mkdir(parents=True, exist_ok=True)
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
        entry["ratio"] = bench.ratio(entry["resized_per_s"], speed, cores)
        entry["worker_cpu_view"] = bench.worker_cpu_view(entry["machine_during_run"], speed)
    ceilings = {entry["ratio"]["ceiling_images_per_s"] for entry in steps}
    ceiling = ceilings.pop() if len(ceilings) == 1 else None
    points = [(e["worker_vms"], e["resized_per_s"]) for e in steps]
    png = plots.scaling(
        points,
        ceiling,
        f"{target.url}: {load.rate_per_s:g} uploads/s arriving, {load.step_s:g} s per step",
        out / "scaling.png",
    )
    result: dict[str, object] = {
        "target": {"url": target.url, "source": target.source},
        "load": {
            "rate_per_s": load.rate_per_s,
            "step_s": load.step_s,
            "mix": load.mix,
            "open_loop": True,
        },
        "raw_worker_speed": speed.as_json(),
        "restored_workers": original,
        "steps": steps,
        "plot": str(png),
    }
    bench.write_json(out / "scaling.json", result)
    return result
