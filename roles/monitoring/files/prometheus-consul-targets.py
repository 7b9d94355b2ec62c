#!/usr/bin/python3
"""Prometheus's targets, found in Consul: written as file_sd files Prometheus watches.

Debian's Prometheus is built without Consul service discovery, so this asks the
local Consul agent instead, every few seconds, and rewrites a file only when what
it lists changed:

    <out>/vms.json            every Consul server (every VM) by its address, no port:
                              each scrape job adds the port of what it reads there
    <out>/<service>.json      every registered instance of each service, host:port

Reads are `?stale`: a VM cut off from the leader still lists what it knew, so
Prometheus keeps scraping (and alerting) through an election or a partition.
When Consul does not answer, the files stay as they were.

    prometheus-consul-targets --consul https://127.0.0.1:8501 --ca CA --token-file F \\
        --out DIR [--interval 5] SERVICE...
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request
from typing import Any


def _get(args: argparse.Namespace, context: ssl.SSLContext, path: str) -> Any:
    with open(args.token_file) as src:
        token = src.read().strip()
    request = urllib.request.Request(
        f"{args.consul}{path}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10, context=context) as answer:
        return json.load(answer)


def vm_targets(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consul's own service lists one instance per server: one target per VM."""
    return [
        {"targets": [e["Node"]["Address"]], "labels": {"instance": e["Node"]["Node"]}}
        for e in sorted(entries, key=lambda e: e["Node"]["Node"])
    ]


def service_targets(name: str, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    targets = []
    for e in sorted(entries, key=lambda e: e["Service"]["ID"]):
        service = e["Service"]
        address = service.get("Address") or e["Node"]["Address"]
        targets.append(
            {
                "targets": [f"{address}:{service['Port']}"],
                "labels": {
                    "service": name.removeprefix("imgcloud-"),
                    "node": e["Node"]["Node"],
                    "instance": f"{e['Node']['Node']}:{service['Port']}",
                },
            }
        )
    return targets


def write_if_changed(path: str, groups: list[dict[str, Any]]) -> bool:
    text = json.dumps(groups, indent=2) + "\n"
    try:
        with open(path) as src:
            if src.read() == text:
                return False
    except FileNotFoundError:
        pass
    tmp = f"{path}.tmp"
    with open(tmp, "w") as out:
        out.write(text)
    os.replace(tmp, path)  # Prometheus never reads half a file
    return True


def refresh(args: argparse.Namespace, context: ssl.SSLContext) -> None:
    consul = _get(args, context, "/v1/health/service/consul?stale")
    if write_if_changed(os.path.join(args.out, "vms.json"), vm_targets(consul)):
        print(f"vms: {[e['Node']['Node'] for e in consul]}", flush=True)
    for name in args.services:
        entries = _get(args, context, f"/v1/health/service/{name}?stale")
        if write_if_changed(os.path.join(args.out, f"{name}.json"), service_targets(name, entries)):
            print(f"{name}: {len(entries)} instance(s)", flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--consul", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--token-file", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("services", nargs="*")
    args = parser.parse_args(argv)
    context = ssl.create_default_context(cafile=args.ca)
    os.makedirs(args.out, exist_ok=True)
    while True:
        try:
            refresh(args, context)
        except (OSError, urllib.error.URLError, ValueError, KeyError) as exc:
            print(f"Consul did not answer ({exc}); targets kept as they were", flush=True)
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
