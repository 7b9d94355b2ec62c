"""The provider's services answer the VMs and the controller, with the lab's
generated credentials."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import tarfile
import uuid
from pathlib import Path
from typing import Any

import aio_pika
import boto3
import pytest
from labtools import docker, ssh

pytestmark = pytest.mark.lab

_AMQP_PROBE = (
    "import socket; s = socket.create_connection(('{host}', 5672), timeout=5); "
    "s.sendall(b'AMQP\\x00\\x00\\x09\\x01'); "
    "print('RabbitMQ' if b'RabbitMQ' in s.recv(4096) else 'other')"
)


def _probe(service: str, host: str) -> str:
    port = {"s3": 9000, "registry": 5000}.get(service)
    if service == "rabbitmq":
        return f'python3 -c "{_AMQP_PROBE.format(host=host)}"'
    path = "/minio/health/live" if service == "s3" else "/v2/"
    return f"curl -fsS -o /dev/null -w '%{{http_code}}' http://{host}:{port}{path}"


@pytest.mark.parametrize("service", ["rabbitmq", "s3", "registry"])
@pytest.mark.parametrize("by", ["address", "name"])
def test_vm_reaches_provider_service(
    lab: dict[str, Any], ssh_config: Path, vm: str, service: str, by: str
) -> None:
    host = lab["provider"]["address"] if by == "address" else "provider"
    result = ssh(ssh_config, vm, _probe(service, host))
    assert result.stdout.strip() in ("RabbitMQ", "200"), result.stdout + result.stderr


def test_s3_accepts_the_lab_credentials(lab: dict[str, Any]) -> None:
    creds = json.loads(Path(lab["provider"]["s3"]["credentials"]).read_text())
    s3 = boto3.client(
        "s3",
        endpoint_url=lab["provider"]["s3"]["endpoint"],
        aws_access_key_id=creds["access_key"],
        aws_secret_access_key=creds["secret_key"],
        region_name="us-east-1",
    )
    key = f"lab-selftest/{uuid.uuid4().hex}"
    s3.put_object(Bucket=creds["bucket"], Key=key, Body=b"hello")
    try:
        assert s3.get_object(Bucket=creds["bucket"], Key=key)["Body"].read() == b"hello"
    finally:
        s3.delete_object(Bucket=creds["bucket"], Key=key)


def test_s3_refuses_wrong_credentials(lab: dict[str, Any]) -> None:
    s3 = boto3.client(
        "s3",
        endpoint_url=lab["provider"]["s3"]["endpoint"],
        aws_access_key_id="nobody",
        aws_secret_access_key="not-the-secret",
        region_name="us-east-1",
    )
    with pytest.raises(s3.exceptions.ClientError, match="InvalidAccessKeyId"):
        s3.list_objects_v2(Bucket="imgcloud")


async def _round_trip(url: str) -> bytes:
    connection = await aio_pika.connect(url, timeout=10)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True)
        await channel.default_exchange.publish(aio_pika.Message(b"ping"), routing_key=queue.name)
        message = await queue.get(timeout=10)
        await message.ack()
        return message.body


def test_rabbitmq_accepts_the_lab_credentials(lab: dict[str, Any]) -> None:
    assert asyncio.run(_round_trip(lab["provider"]["rabbitmq"]["url"])) == b"ping"


def test_rabbitmq_has_no_guest_user(lab: dict[str, Any]) -> None:
    url = f"amqp://guest:guest@{lab['provider']['address']}:5672/"
    with pytest.raises(aio_pika.exceptions.ProbableAuthenticationError):
        asyncio.run(_round_trip(url))


def _tiny_image() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        data = b"lab self-test\n"
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_controller_pushes_and_vms_see_the_image(lab: dict[str, Any], ssh_config: Path) -> None:
    tag = f"lab-selftest/tiny:{uuid.uuid4().hex[:8]}"
    push_ref = f"{lab['provider']['registry_push']}/{tag}"
    subprocess.run(
        ["docker", "import", "-", push_ref], input=_tiny_image(), check=True, capture_output=True
    )
    try:
        docker("push", push_ref)
    finally:
        docker("rmi", push_ref)
    name, version = tag.split(":")
    result = ssh(
        ssh_config, "vm1", f"curl -fsS http://{lab['provider']['registry']}/v2/{name}/tags/list"
    )
    assert version in json.loads(result.stdout)["tags"], result.stderr


def test_alert_receiver_keeps_what_alertmanager_posts_and_refuses_the_rest(
    lab: dict[str, Any],
) -> None:
    """The receiver the cluster's Alertmanagers post to (roles/monitoring) and the
    infra lane reads: a webhook notification is kept and listed; anything else gets
    a JSON 400 and is not kept."""
    import httpx

    url = lab["provider"]["alert_receiver"]
    marker = f"lab-test-{uuid.uuid4()}"
    notification = {
        "status": "firing",
        "alerts": [{"status": "firing", "labels": {"alertname": marker}}],
    }
    assert httpx.post(url, json=notification, timeout=10).status_code == 200
    bad = httpx.post(url, content=b"not json", timeout=10)
    assert bad.status_code == 400 and "error" in bad.json()
    kept = httpx.get(url, timeout=10).json()["notifications"]
    mine = [n for n in kept if n["alerts"][0]["labels"].get("alertname") == marker]
    assert len(mine) == 1 and mine[0]["received_at"] > 0
