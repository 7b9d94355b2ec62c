"""The provider's floating-IP API: the lab's stand-in for a cloud that moves an
address only when asked (AWS, GCP, Azure and OpenStack ignore gratuitous ARP).

The provider runs `lab-floating-ip` (lab/images/provider) on `<provider>:8780`,
managing the lab's floating IP. keepalived's hook on the VMs (roles/keepalived,
`keepalived_vip_hook: http`) calls it with a bearer token when a VM becomes
MASTER; the chaos suite reads who it routes the address to and every call
(chaos/cloudip.py). The token is made here, once per lab, in the secrets folder.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from lab.engine import docker
from lab.state import LabState, write_private

PORT = 8780
LABEL = "org.imgcloud.lab.floating-ip"  # on the provider image that has it
CONFIG = "etc/lab/floating-ip.json"


def token_file(state: LabState) -> Path:
    return state.secrets_dir / "floating-ip-api.token"


def token(state: LabState) -> str:
    """The API's bearer token, made on first use."""
    path = token_file(state)
    if not path.is_file():
        write_private(path, secrets.token_urlsafe(32) + "\n")
    return path.read_text().strip()


def api_url(state: LabState) -> str:
    return f"http://{state.topology.provider.address}:{PORT}"


def files(state: LabState) -> dict[str, str]:
    """Per-lab files for the provider (path inside it -> text), written before its boot."""
    config = {
        "listen": state.topology.provider.address,
        "port": PORT,
        "token": token(state),
        "addresses": [state.topology.vip],
    }
    return {CONFIG: json.dumps(config, indent=2) + "\n"}


def status(state: LabState) -> dict[str, Any]:
    """`provider.floating_ip` of `lab status --json`."""
    return {
        "api": api_url(state),
        "address_url": f"{api_url(state)}/v1/floating-ips/{state.topology.vip}",
        "token": str(token_file(state)),
    }


def hook_vars(state: LabState) -> dict[str, Any]:
    """The inventory's keepalived hook settings: the http hook, pointed at the API."""
    return {
        "keepalived_vip_hook": "http",
        "keepalived_vip_hook_url": f"{api_url(state)}/v1/floating-ips/{state.topology.vip}",
        "keepalived_vip_hook_token": token(state),
    }


def in_provider(state: LabState) -> bool:
    """Whether the provider container was made from an image with the API (`up`
    keeps a running provider as it is)."""
    fmt = f'{{{{index .Config.Labels "{LABEL}"}}}}'
    return docker("container", "inspect", "--format", fmt, state.topology.provider.container) == "1"
