"""Toxiproxy in the provider: the slow or flaky network in front of S3 and RabbitMQ.

The provider runs `toxiproxy-server` with its API on `<provider>:8474` and two
proxies, made from `/etc/lab/toxiproxy.json` each time the server starts (so a
restart brings them back, and nothing else creates them twice): `s3` on
`<provider>:9100` to MinIO, `amqp` on `<provider>:5673` to RabbitMQ. The VMs'
inventory points at these ports, so a toxic added through the API slows or breaks
every S3 and broker call of the deployed service; the direct ports (9000, 5672)
stay as they were for the controller and the tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lab.engine import docker
from lab.state import LabState

API_PORT = 8474
LABEL = "org.imgcloud.lab.toxiproxy"  # on the provider image that has it
CONFIG = "etc/lab/toxiproxy.json"
ENV = "etc/lab/toxiproxy.env"


@dataclass(frozen=True)
class Proxy:
    name: str
    port: int  # on the provider's address
    upstream: str  # inside the provider


# MinIO and RabbitMQ listen on every address of the provider, loopback included.
PROXIES = (Proxy("s3", 9100, "127.0.0.1:9000"), Proxy("amqp", 5673, "127.0.0.1:5672"))


def api_url(state: LabState) -> str:
    return f"http://{state.topology.provider.address}:{API_PORT}"


def listen(state: LabState, name: str) -> str:
    """`host:port` where the VMs reach the proxy `name` (s3 or amqp)."""
    port = next(proxy.port for proxy in PROXIES if proxy.name == name)
    return f"{state.topology.provider.address}:{port}"


def config(state: LabState) -> list[dict[str, Any]]:
    """The `-config` file of toxiproxy-server: the proxies it makes at start."""
    return [
        {"name": p.name, "listen": listen(state, p.name), "upstream": p.upstream, "enabled": True}
        for p in PROXIES
    ]


def files(state: LabState) -> dict[str, str]:
    """Per-lab files for the provider (path inside it -> text), written before its boot."""
    return {
        CONFIG: json.dumps(config(state), indent=2) + "\n",
        ENV: f"TOXIPROXY_HOST={state.topology.provider.address}\n",
    }


def status(state: LabState) -> dict[str, Any]:
    """`provider.toxiproxy` of `lab status --json`."""
    return {
        "api": api_url(state),
        "proxies": {
            p.name: {"listen": listen(state, p.name), "upstream": p.upstream} for p in PROXIES
        },
    }


def in_provider(state: LabState) -> bool:
    """Whether the provider container was made from an image with Toxiproxy: not one
    kept running from an older image (`up` keeps running machines as they are)."""
    fmt = f'{{{{index .Config.Labels "{LABEL}"}}}}'
    return docker("container", "inspect", "--format", fmt, state.topology.provider.container) == "1"
