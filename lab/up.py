"""`lab up`: bring a lab to the state docs/lab.md describes, idempotently.

Each step first looks at what is there and only does what is missing, so on a
healthy lab `up` builds nothing, creates nothing and only re-checks health.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import gobuild

from lab import floating_ip, health, hostkeys, images, inventory, machines, toxiproxy
from lab.down import remove_machines
from lab.engine import docker, ensure_docker, ensure_inotify_limits
from lab.images import ensure_machine_images, image_id
from lab.machines import LABEL
from lab.network import ensure_network
from lab.progress import say, step
from lab.state import LabState, ensure_state, load, write_private
from lab.topology import Node, state_dir


def _binary(name: str) -> Path:
    """consul, nomad, minio or toxiproxy from PATH or the cache, else built with Go (once)."""
    if gobuild.find(name) is not None:
        return gobuild.ensure(name)
    with step(f"getting {name} (built with Go once, then cached)"):
        return gobuild.ensure(name)


def _remove_extra_vms(state: LabState) -> None:
    """After `up --vms N` with fewer VMs than before, drop the ones beyond N."""
    wanted = {node.container for node in state.topology.nodes}
    names = docker(
        "ps", "--all", "--filter", f"label={LABEL}={state.topology.name}",
        "--filter", f"label={LABEL}.vm", "--format", "{{.Names}}",
    ).split()  # fmt: skip
    for name in sorted(set(names) - wanted):
        say(f"removing {name} (the lab now has {state.topology.vms} VMs)")
        docker("rm", "--force", "--volumes", name)
        docker("volume", "rm", "--force", f"{name}-docker", check=False)


def _ensure_volumes(state: LabState) -> None:
    topo = state.topology
    existing = set(
        docker("volume", "ls", "--quiet", "--filter", f"label={LABEL}={topo.name}").split()
    )
    for node in topo.nodes:
        if topo.volume(node) not in existing:
            docker("volume", "create", "--label", f"{LABEL}={topo.name}", topo.volume(node))


def _check_vm(state: LabState, node: Node) -> None:
    health.wait_booted(node)
    health.wait_docker(node)
    health.wait_ssh(state, node)


def _wait_healthy(state: LabState, proxied: bool) -> None:
    topo = state.topology
    with (
        step("waiting for the bastion, the provider and the VMs to be ready"),
        ThreadPoolExecutor(max_workers=len(topo.nodes) + 1) as pool,
    ):
        jobs = [pool.submit(health.wait_ssh, state, topo.bastion)]
        jobs.append(pool.submit(health.wait_provider, state, proxied))
        jobs += [pool.submit(_check_vm, state, node) for node in topo.nodes]
        for job in jobs:
            job.result()


def up(name: str, vms: int | None) -> tuple[LabState, dict[str, str], float]:
    """Bring the lab up; return its state, what happened per machine, and seconds.

    The bastion and VMs start booting before the provider's image is built, which
    may first wait for MinIO's Go build, so their boot overlaps that wait.
    """
    start = time.monotonic()
    ensure_docker()
    ensure_inotify_limits()
    ensure_machine_images()
    if load(state_dir(name)) is None:
        # Machines of this name whose state folder is gone (another checkout, a
        # deleted .lab) hold keys and credentials nobody has any more: unusable.
        for line in remove_machines(name):
            say(f"removed orphaned {line}")
    state = ensure_state(name, state_dir(name), vms)
    topo = state.topology
    write_private(state.ssh_config, inventory.ssh_config(state))
    _remove_extra_vms(state)
    ensure_network(topo)
    _ensure_volumes(state)
    actions: dict[str, str] = {}
    for machine in [machines.bastion(state)] + [machines.vm(state, n) for n in topo.nodes]:
        actions[machine.node.name] = machines.ensure_running(
            machine, topo.network, image_id(machine.image)
        )
    provider_tag = images.ensure_provider_image(_binary("minio"), _binary("toxiproxy"))
    actions["provider"] = machines.ensure_running(
        machines.provider(state), topo.network, image_id(provider_tag)
    )
    # A provider kept from before Toxiproxy has no proxies: its VMs keep the direct
    # ports until `down` and `up` give it the new image.
    proxied = toxiproxy.in_provider(state)
    if not proxied:
        say(
            f"{topo.provider.container} has no Toxiproxy (older image): the inventory "
            "keeps the direct S3 and RabbitMQ ports; `down` then `up` to put them behind it"
        )
    floating = floating_ip.in_provider(state)
    if not floating:
        say(
            f"{topo.provider.container} has no floating-IP API (older image): keepalived "
            "gets no hook; `down` then `up` to have one"
        )
    with step("pinning the machines' SSH host keys (read through Docker)"):
        hostkeys.pin(state)
    inventory.write_all(
        state, _binary("consul"), _binary("nomad"), proxied=proxied, floating=floating
    )
    _wait_healthy(state, proxied)
    return state, actions, time.monotonic() - start
