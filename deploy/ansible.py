"""Running Ansible's command line tools with the repository's settings."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy import ROOT, DeployError

# Options of ansible-playbook that ansible-inventory needs too, to read an
# inventory with Vault-encrypted variables.
_VAULT_OPTIONS = ("--vault-id", "--vault-password-file", "--vault-pass-file")


_RECAP_LINE = re.compile(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", re.MULTILINE)


@dataclass(frozen=True)
class PlaybookRun:
    returncode: int
    seconds: float


def environment() -> dict[str, str]:
    """os.environ plus the repository's ansible.cfg and the venv's tools on PATH."""
    env = dict(os.environ)
    env.setdefault("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg"))
    # `python -m deploy` from a venv that is not activated still finds its ansible.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def tool(name: str) -> str:
    found = shutil.which(name, path=environment()["PATH"])
    if found is None:
        raise DeployError(f"{name} not found: install the infra extra (pip install -e '.[infra]')")
    return found


def vault_args(args: Sequence[str]) -> list[str]:
    """The Vault options among ansible-playbook arguments, with their values."""
    picked: list[str] = []
    for i, arg in enumerate(args):
        if arg in _VAULT_OPTIONS and i + 1 < len(args):
            picked += [arg, args[i + 1]]
        elif arg.startswith(tuple(f"{o}=" for o in _VAULT_OPTIONS)):
            picked.append(arg)
    return picked


def inventory_list(inventory: Path, extra: Sequence[str] = ()) -> dict[str, Any]:
    """`ansible-inventory --list`: groups and every host's resolved variables."""
    proc = subprocess.run(
        [tool("ansible-inventory"), "-i", str(inventory), "--list", *vault_args(extra)],
        capture_output=True,
        text=True,
        env=environment(),
        check=False,
    )
    if proc.returncode != 0:
        raise DeployError(f"cannot read inventory {inventory}: {proc.stderr.strip()}")
    return json.loads(proc.stdout)


def group_hosts(listing: dict[str, Any], group: str) -> list[str]:
    """Hosts of a group and of its children, in inventory order."""
    entry = listing.get(group, {})
    hosts = list(entry.get("hosts", []))
    for child in entry.get("children", []):
        hosts += [h for h in group_hosts(listing, child) if h not in hosts]
    return hosts


def cluster_vars(inventory: Path, extra: Sequence[str] = ()) -> dict[str, Any]:
    """The variables of the first host of group `cluster`, as Ansible resolves them."""
    listing = inventory_list(inventory, extra)
    hosts = group_hosts(listing, "cluster")
    if not hosts:
        raise DeployError(f"inventory {inventory} has no hosts in group 'cluster'")
    return dict(listing["_meta"]["hostvars"][hosts[0]])


def run_playbook(playbook: Path, inventory: Path, extra: Sequence[str] = ()) -> PlaybookRun:
    """ansible-playbook with output streaming to the terminal; returns code and duration."""
    argv = [tool("ansible-playbook"), "-i", str(inventory), str(playbook), *extra]
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=ROOT, env=environment(), check=False)
    return PlaybookRun(proc.returncode, time.monotonic() - started)


def recap(output: str) -> dict[str, dict[str, int]]:
    """The PLAY RECAP of ansible-playbook's output: host -> {ok, changed, failed, ...}."""
    counts: dict[str, dict[str, int]] = {}
    for host, fields in _RECAP_LINE.findall(output):
        counts[host] = {k: int(v) for k, v in (f.split("=") for f in fields.split())}
    return counts
