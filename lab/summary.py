"""The one-screen summary `up` and `status` print for people."""

from __future__ import annotations

import os
from typing import Any


def _rel(path: str) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return path


def render(status: dict[str, Any], machines: dict[str, str], title: str) -> str:
    """`machines` maps node name to what happened to it (or its live state)."""
    ssh = f"ssh -F {_rel(status['ssh_config'])}"
    bastion = status["bastion"]
    provider = status["provider"]
    rows = [("bastion", bastion["host"], f"{ssh} bastion", machines.get("bastion", ""))]
    rows += [
        (n["name"], n["address"], f"{ssh} {n['name']}", machines.get(n["name"], ""))
        for n in status["nodes"]
    ]
    rows.append(
        ("provider", provider["address"], provider["container"], machines.get("provider", ""))
    )
    lines = [title, ""]
    lines += [f"  {name:<9} {addr:<14} {how:<44} {what}" for name, addr, how, what in rows]
    lines += [
        "",
        f"  floating IP  {status['vip']}  ->  {status['url']}  (keepalived holds it once deployed)",
        f"  RabbitMQ     {provider['rabbitmq']['url']}",
        f"  S3 (MinIO)   {provider['s3']['endpoint']}  bucket imgcloud, credentials in "
        + _rel(provider["s3"]["credentials"]),
        f"  registry     {provider['registry']} for the VMs; push from here to "
        + provider["registry_push"],
        *_toxiproxy_line(provider),
        *_floating_ip_line(provider),
        f"  inventory    {_rel(status['inventory'])}",
        f"  bastion key  {_rel(bastion['key'])}",
        "  details      python -m lab status --json" + _name_flag(status["name"]),
    ]
    return "\n".join(lines)


def _toxiproxy_line(provider: dict[str, Any]) -> list[str]:
    toxiproxy = provider.get("toxiproxy")
    if not toxiproxy:
        return []
    proxies = ", ".join(f"{name} {p['listen']}" for name, p in toxiproxy["proxies"].items())
    return [f"  Toxiproxy    {toxiproxy['api']}  (the VMs' S3 and RabbitMQ: {proxies})"]


def _floating_ip_line(provider: dict[str, Any]) -> list[str]:
    api = provider.get("floating_ip")
    if not api:
        return []
    return [f"  cloud API    {api['address_url']}  (the floating-IP API keepalived's hook calls)"]


def _name_flag(name: str) -> str:
    return "" if name == "imgcloud" else f" --name {name}"
