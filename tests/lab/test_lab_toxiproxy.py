"""The provider's Toxiproxy: after `up` it holds the proxies `s3` and `amqp`, the VMs'
inventory goes through them, S3 and AMQP traffic passes, and a toxic slows or breaks
that traffic while the direct ports stay as they are.

Toxics added here have names of their own and are removed by name (never `reset`), so a
toxic someone else added on the shared lab is left alone.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aio_pika
import boto3
import httpx
import pytest
import yaml
from labtools import ssh

from chaos.toxiproxy import Toxiproxy

pytestmark = pytest.mark.lab

LATENCY_MS = 1000

_AMQP_PROBE = (
    "import socket; s = socket.create_connection(('{host}', {port}), timeout=5); "
    "s.sendall(b'AMQP\\x00\\x00\\x09\\x01'); "
    "print('RabbitMQ' if b'RabbitMQ' in s.recv(4096) else 'other')"
)


@pytest.fixture(scope="module")
def proxies(lab: dict[str, Any]) -> dict[str, Any]:
    """`provider.toxiproxy` of the lab status."""
    found = lab["provider"].get("toxiproxy")
    if not found:
        pytest.fail(
            f"the lab status has no provider.toxiproxy: {lab['provider']['container']} runs an "
            "image from before Toxiproxy (`up` keeps a running provider); run "
            "`python -m lab down` then `python -m lab up`"
        )
    return found


@pytest.fixture
def toxiproxy(proxies: dict[str, Any]) -> Iterator[Toxiproxy]:
    with Toxiproxy(proxies["api"]) as client:
        yield client


@pytest.fixture
def toxic_name() -> str:
    return f"labtest-{uuid.uuid4().hex[:8]}"


def _variables(lab: dict[str, Any]) -> dict[str, Any]:
    return yaml.safe_load(Path(lab["inventory"]).read_text())["all"]["vars"]


def _host_port(listen: str) -> tuple[str, int]:
    host, port = listen.rsplit(":", 1)
    return host, int(port)


def _s3_live(endpoint: str, timeout: float = 10.0) -> float:
    """Seconds MinIO's liveness endpoint takes to answer 200 at `endpoint`."""
    start = time.monotonic()
    answer = httpx.get(f"{endpoint}/minio/health/live", timeout=timeout)
    assert answer.status_code == 200
    return time.monotonic() - start


def _amqp_banner(host: str, port: int) -> bytes:
    """RabbitMQ's answer to an AMQP 0-9-1 protocol header; b"" when the connection is cut."""
    try:
        with socket.create_connection((host, port), timeout=5) as sock:
            sock.sendall(b"AMQP\x00\x00\x09\x01")
            return sock.recv(4096)
    except ConnectionError:  # reset, or a broken pipe when the reset came first
        return b""


def test_the_status_names_toxiproxys_api_and_proxies(
    lab: dict[str, Any], proxies: dict[str, Any]
) -> None:
    address = lab["provider"]["address"]
    assert proxies == {
        "api": f"http://{address}:8474",
        "proxies": {
            "s3": {"listen": f"{address}:9100", "upstream": "127.0.0.1:9000"},
            "amqp": {"listen": f"{address}:5673", "upstream": "127.0.0.1:5672"},
        },
    }


@pytest.mark.parametrize("name", ["s3", "amqp"])
def test_toxiproxy_serves_the_proxy_after_up(
    proxies: dict[str, Any], toxiproxy: Toxiproxy, name: str
) -> None:
    live = toxiproxy.proxies()[name]
    wanted = proxies["proxies"][name]
    assert (live.listen, live.upstream, live.enabled) == (
        wanted["listen"],
        wanted["upstream"],
        True,
    )


def test_the_inventory_sends_the_vms_through_the_proxies(
    lab: dict[str, Any], proxies: dict[str, Any]
) -> None:
    variables = _variables(lab)
    assert variables["imgcloud_s3_endpoint"] == f"http://{proxies['proxies']['s3']['listen']}"
    amqp = urlsplit(variables["imgcloud_amqp_url"])
    assert f"{amqp.hostname}:{amqp.port}" == proxies["proxies"]["amqp"]["listen"]
    # The controller's own view stays direct.
    assert urlsplit(lab["provider"]["s3"]["endpoint"]).port == 9000
    assert urlsplit(lab["provider"]["rabbitmq"]["url"]).port == 5672
    s3_json = json.loads(Path(lab["provider"]["s3"]["credentials"]).read_text())
    assert s3_json["endpoint"] == lab["provider"]["s3"]["endpoint"]


@pytest.mark.parametrize("service", ["s3", "amqp"])
def test_vm_reaches_the_provider_through_toxiproxy(
    proxies: dict[str, Any], ssh_config: Path, vm: str, service: str
) -> None:
    host, port = _host_port(proxies["proxies"][service]["listen"])
    probe = (
        f"curl -fsS -o /dev/null -w '%{{http_code}}' http://{host}:{port}/minio/health/live"
        if service == "s3"
        else f'python3 -c "{_AMQP_PROBE.format(host=host, port=port)}"'
    )
    result = ssh(ssh_config, vm, probe)
    assert result.stdout.strip() in ("200", "RabbitMQ"), result.stdout + result.stderr


def test_s3_objects_round_trip_through_the_proxy(
    lab: dict[str, Any], proxies: dict[str, Any]
) -> None:
    creds = json.loads(Path(lab["provider"]["s3"]["credentials"]).read_text())
    s3 = boto3.client(
        "s3",
        endpoint_url=f"http://{proxies['proxies']['s3']['listen']}",
        aws_access_key_id=creds["access_key"],
        aws_secret_access_key=creds["secret_key"],
        region_name="us-east-1",
    )
    key = f"lab-selftest/toxiproxy-{uuid.uuid4().hex}"
    body = uuid.uuid4().bytes * 4096  # 64 KiB: more than one read through the proxy
    s3.put_object(Bucket=creds["bucket"], Key=key, Body=body)
    try:
        assert s3.get_object(Bucket=creds["bucket"], Key=key)["Body"].read() == body
    finally:
        s3.delete_object(Bucket=creds["bucket"], Key=key)


async def _round_trip(url: str) -> bytes:
    connection = await aio_pika.connect(url, timeout=10)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True)
        await channel.default_exchange.publish(aio_pika.Message(b"ping"), routing_key=queue.name)
        message = await queue.get(timeout=10)
        await message.ack()
        return message.body


def test_rabbitmq_messages_round_trip_through_the_proxy(lab: dict[str, Any]) -> None:
    assert asyncio.run(_round_trip(_variables(lab)["imgcloud_amqp_url"])) == b"ping"


def test_guest_is_refused_through_the_proxy_too(proxies: dict[str, Any]) -> None:
    # RabbitMQ sees the proxy's connections coming from loopback, where guest would be
    # let in: it must not exist at all.
    url = f"amqp://guest:guest@{proxies['proxies']['amqp']['listen']}/"
    with pytest.raises(aio_pika.exceptions.ProbableAuthenticationError):
        asyncio.run(_round_trip(url))


def test_a_latency_toxic_slows_s3_through_the_proxy_not_the_direct_port(
    lab: dict[str, Any], proxies: dict[str, Any], toxiproxy: Toxiproxy, toxic_name: str
) -> None:
    proxied = f"http://{proxies['proxies']['s3']['listen']}"
    with toxiproxy.toxic("s3", toxic_name, "latency", {"latency": LATENCY_MS}):
        assert _s3_live(proxied) >= LATENCY_MS / 1000
        assert _s3_live(lab["provider"]["s3"]["endpoint"]) < LATENCY_MS / 1000
    assert _s3_live(proxied) < LATENCY_MS / 1000


def test_a_timeout_toxic_stalls_s3_until_removed(
    proxies: dict[str, Any], toxiproxy: Toxiproxy, toxic_name: str
) -> None:
    proxied = f"http://{proxies['proxies']['s3']['listen']}"
    with (
        toxiproxy.toxic("s3", toxic_name, "timeout", {"timeout": 0}),
        pytest.raises(httpx.ReadTimeout),
    ):
        _s3_live(proxied, timeout=2.0)
    _s3_live(proxied)


def test_a_reset_peer_toxic_cuts_the_broker_through_the_proxy_not_directly(
    lab: dict[str, Any], proxies: dict[str, Any], toxiproxy: Toxiproxy, toxic_name: str
) -> None:
    host, port = _host_port(proxies["proxies"]["amqp"]["listen"])
    with toxiproxy.toxic("amqp", toxic_name, "reset_peer", {"timeout": 0}):
        assert b"RabbitMQ" not in _amqp_banner(host, port)
        assert b"RabbitMQ" in _amqp_banner(lab["provider"]["address"], 5672)
    assert b"RabbitMQ" in _amqp_banner(host, port)
