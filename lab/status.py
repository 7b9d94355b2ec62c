"""`lab status`: the status document of a lab that is up, with live states."""

from __future__ import annotations

import json
from typing import Any

from lab.engine import LabError, docker
from lab.machines import LABEL
from lab.topology import state_dir


def machine_states(name: str) -> dict[str, str]:
    """Node name -> docker state (running, exited, ...) of the lab's containers."""
    out = docker(
        "ps", "--all", "--filter", f"label={LABEL}={name}",
        "--format", f'{{{{.Label "{LABEL}.node"}}}} {{{{.State}}}}',
    )  # fmt: skip
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


def read_status(name: str) -> dict[str, Any]:
    path = state_dir(name) / "status.json"
    if not path.is_file():
        flag = "" if name == "imgcloud" else f" --name {name}"
        raise LabError(f"the lab {name!r} is not up (no {path}): run `python -m lab up{flag}`")
    return json.loads(path.read_text())


def live_status(name: str) -> dict[str, Any]:
    status = read_status(name)
    states = machine_states(name)
    status["machines"] = {
        node: states.get(node, "missing")
        for node in ["bastion", "provider", *(n["name"] for n in status["nodes"])]
    }
    status["running"] = all(state == "running" for state in status["machines"].values())
    return status
