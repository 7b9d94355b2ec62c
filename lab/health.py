"""Is each machine of the lab ready? Waits with deadlines, fails with a reason.

A VM is ready when systemd says `running` (not `degraded`), its Docker engine
answers and SSH through the bastion works. The provider is ready when systemd
says `running` (its units create the RabbitMQ user), MinIO has the bucket, the
registry answers on its published port, and Toxiproxy has its two proxies (their
traffic is not checked here: a toxic someone added on purpose would fail `up`).
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from lab import toxiproxy
from lab.engine import LabError, docker
from lab.machines import wait_for
from lab.progress import say
from lab.state import BUCKET, LabState
from lab.topology import Node

BOOT_DEADLINE_S = 180.0


def system_state(container: str) -> str:
    """`systemctl is-system-running --wait` inside the container."""
    return docker(
        "exec", container, "systemctl", "is-system-running", "--wait", check=False, timeout=240
    ).strip()


def failed_units(container: str) -> str:
    return docker(
        "exec", container, "systemctl", "--failed", "--no-legend", "--plain", check=False
    ).strip()


_BOOT_RETRIES = 2


class _Fatal(Exception):
    """Stops a wait at once (wait_for retries on LabError)."""


def _booted(node: Node, restarts: list[str]) -> bool:
    """One look at `node`; restart it when systemd died during boot."""
    out = docker("inspect", "--format", "{{.State.Running}} {{.State.ExitCode}}", node.container)
    running, code = out.split()
    if running != "true":
        # Seen under heavy load: PID 1 exits at once (255), and a second start boots.
        if len(restarts) >= _BOOT_RETRIES:
            logs = docker("logs", "--tail", "20", node.container, check=False)
            raise _Fatal(
                f"{node.container} stopped during boot (exit code {code}) "
                f"{len(restarts) + 1} times; its console said: {logs or 'nothing'}"
            )
        say(f"{node.container} exited during boot (code {code}); starting it again")
        restarts.append(code)
        docker("start", node.container)
        return False
    return system_state(node.container) not in ("", "initializing", "starting")


def wait_booted(node: Node) -> None:
    """Wait until systemd in `node` has finished booting and nothing failed."""
    restarts: list[str] = []
    try:
        wait_for(
            f"systemd starting in {node.container}",
            lambda: _booted(node, restarts),
            BOOT_DEADLINE_S,
        )
    except _Fatal as exc:
        raise LabError(str(exc)) from None
    state = system_state(node.container)
    if state != "running":
        raise LabError(
            f"{node.container} booted {state!r}, not 'running'; failed units: "
            f"{failed_units(node.container) or 'none listed'}"
        )


def ssh_command(state: LabState, node: Node, *command: str) -> list[str]:
    """An ssh command line reaching `node` the way Ansible does (via the bastion)."""
    args = ["ssh", "-F", str(state.ssh_config), "-o", "BatchMode=yes", "-o", "ConnectTimeout=5"]
    return [*args, node.name, *command]


def _ssh_ok(state: LabState, node: Node) -> bool:
    proc = subprocess.run(
        ssh_command(state, node, "true"), capture_output=True, timeout=30, check=False
    )
    return proc.returncode == 0


def wait_ssh(state: LabState, node: Node) -> None:
    wait_for(f"SSH to {node.name} ({node.address})", lambda: _ssh_ok(state, node), 60.0)


def wait_docker(node: Node) -> None:
    wait_for(
        f"the Docker engine in {node.container}",
        lambda: (
            docker("exec", node.container, "docker", "info", "--format", "{{.Driver}}")
            == "overlay2"
        ),
        60.0,
    )


def s3_client(state: LabState) -> Any:  # boto3 clients have no static type
    creds = json.loads(state.s3_credentials.read_text())
    return boto3.client(
        "s3",
        endpoint_url=creds["endpoint"],
        aws_access_key_id=creds["access_key"],
        aws_secret_access_key=creds["secret_key"],
        region_name="us-east-1",
        config=Config(connect_timeout=3, read_timeout=10, retries={"max_attempts": 1}),
    )


def _bucket_ready(state: LabState) -> bool:
    client = s3_client(state)
    try:
        client.head_bucket(Bucket=BUCKET)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
            raise LabError(f"MinIO refuses the lab's credentials: {exc}") from exc
        client.create_bucket(Bucket=BUCKET)
    except BotoCoreError as exc:
        raise LabError(f"MinIO does not answer: {exc}") from exc
    return True


def _registry_ready(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return answer.status == 200


def _toxiproxy_ready(state: LabState) -> bool:
    with urllib.request.urlopen(f"{toxiproxy.api_url(state)}/proxies", timeout=5) as answer:
        proxies = json.load(answer)
    wanted = {p.name: toxiproxy.listen(state, p.name) for p in toxiproxy.PROXIES}
    found = {name: proxy.get("listen") for name, proxy in proxies.items()}
    if {name: found.get(name) for name in wanted} != wanted:
        raise LabError(f"Toxiproxy has the proxies {found}, not {wanted}")
    return True


def wait_provider(state: LabState, proxied: bool = True) -> None:
    wait_booted(state.topology.provider)
    checks: list[tuple[str, Callable[[], bool]]] = [
        (f"bucket {BUCKET!r} in MinIO", lambda: _bucket_ready(state)),
        (
            "the registry on its published port",
            lambda: _registry_ready(f"http://127.0.0.1:{state.registry_port}/v2/"),
        ),
    ]
    if proxied:
        checks.append(("Toxiproxy's s3 and amqp proxies", lambda: _toxiproxy_ready(state)))
    for what, check in checks:
        wait_for(what, check, 60.0)
