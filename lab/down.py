"""`lab down`: remove every container, network and volume of one lab.

Found by label (`org.imgcloud.lab=<name>`) and by name, so a half-made lab goes
too. The images stay: they are a cache shared by every lab on the machine. The
state folder goes, so no inventory points at machines that no longer exist.
Empty cgroups the VMs' engines left in the host's shared tree are removed too.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from lab.engine import docker
from lab.machines import LABEL
from lab.progress import say
from lab.topology import state_dir

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _containers(name: str) -> list[str]:
    by_label = docker("ps", "--all", "--filter", f"label={LABEL}={name}", "--format", "{{.Names}}")
    by_name = docker("ps", "--all", "--format", "{{.Names}}").split()
    prefixed = [c for c in by_name if c in (f"{name}-bastion", f"{name}-provider")]
    prefixed += [c for c in by_name if c.startswith(f"{name}-vm") and c[len(name) + 3 :].isdigit()]
    return sorted(set(by_label.split()) | set(prefixed))


def _volumes(name: str) -> list[str]:
    return docker("volume", "ls", "--quiet", "--filter", f"label={LABEL}={name}").split()


def _networks(name: str) -> list[str]:
    found = docker("network", "ls", "--filter", f"label={LABEL}={name}", "--format", "{{.Name}}")
    named = docker("network", "ls", "--filter", f"name=^{name}-net$", "--format", "{{.Name}}")
    return sorted(set(found.split()) | set(named.split()))


def _empty_cgroups(name: str) -> list[Path]:
    """Leftover `<name>-vmN-*` cgroups (deepest first, so rmdir can succeed)."""
    if not CGROUP_ROOT.is_dir():
        return []
    found: list[Path] = []
    for controller in CGROUP_ROOT.iterdir():
        if controller.is_dir() and not controller.is_symlink():
            found += [p for p in controller.glob(f"{name}-vm*-*") if p.is_dir()]
    return sorted(
        (q for p in found for q in [*p.rglob("*"), p] if q.is_dir()),
        key=lambda q: len(q.parts),
        reverse=True,
    )


def remove_machines(name: str) -> list[str]:
    """Remove the lab's containers, network, volumes and cgroups; keep its state."""
    removed: list[str] = []
    containers = _containers(name)
    if containers:
        docker("rm", "--force", "--volumes", *containers, timeout=120)
        removed += [f"container {c}" for c in containers]
    for network in _networks(name):
        docker("network", "rm", network)
        removed.append(f"network {network}")
    volumes = _volumes(name)
    if volumes:
        docker("volume", "rm", "--force", *volumes)
        removed += [f"volume {v}" for v in volumes]
    groups = 0
    for group in _empty_cgroups(name):
        try:
            group.rmdir()
            groups += 1
        except OSError:
            pass  # still in use or already gone: not ours to force
    if groups:
        removed.append(f"{groups} empty cgroups left by the VMs' Docker engines")
    return removed


def down(name: str) -> list[str]:
    """Remove the lab; return one line per thing removed."""
    removed = remove_machines(name)
    folder = state_dir(name)
    if folder.is_dir():
        shutil.rmtree(folder)
        removed.append(f"state folder {folder}")
    for line in removed:
        say(f"removed {line}")
    return removed
