"""Which inventory to deploy to: the one given, or the lab's (brought up first)."""

from __future__ import annotations

from pathlib import Path

from deploy import DeployError


def given_inventory(path: str) -> Path:
    inventory = Path(path).expanduser().resolve()
    if not inventory.exists():
        raise DeployError(f"inventory {inventory} does not exist")
    return inventory


def lab_inventory() -> Path:
    """Bring the lab up (idempotent: quick when it already runs) and return its inventory."""
    from lab.__main__ import main as lab_main
    from lab.topology import lab_name, state_dir

    if lab_main(["up"]) != 0:
        raise DeployError("`python -m lab up` failed (see above)")
    inventory = state_dir(lab_name(None)) / "inventory.yml"
    if not inventory.is_file():
        raise DeployError(f"the lab is up but wrote no inventory at {inventory}")
    return inventory
