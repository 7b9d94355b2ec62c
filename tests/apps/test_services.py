"""What every service answers (health, readiness, metrics, X-Served-By) and worker idempotency."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import aio_pika
import apps_samples as samples
import httpx
import pytest
from apps_stack import Stack, eventually, finished, metric, upload

NODES = {"backend": "node-shared", "worker": "worker-shared", "frontend": "front-shared"}


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/no-such-page"])
@pytest.mark.parametrize("role", sorted(NODES))
def test_every_service_answers_with_x_served_by(stack: Stack, role: str, path: str) -> None:
    answer = httpx.get(getattr(stack, role).url + path, timeout=10)
    assert answer.status_code == (404 if path == "/no-such-page" else 200)
    assert answer.headers["x-served-by"] == NODES[role]


@pytest.mark.parametrize("role", ["backend", "worker"])
def test_readiness_checks_s3_and_the_broker(stack: Stack, role: str) -> None:
    body = httpx.get(getattr(stack, role).url + "/readyz", timeout=10).json()
    assert body["checks"] == {"s3": "ok", "broker": "ok"}


def test_backend_metrics_count_uploads_and_rejections_by_reason(
    api: httpx.Client, stack: Stack
) -> None:
    uploads = metric(stack.backend.url, "imgcloud_uploads_total")
    refused = metric(stack.backend.url, "imgcloud_upload_rejections_total", 'reason="not_image"')
    upload(api, samples.ACCEPTED["bmp"]())
    upload(api, b"plain text, not a picture")
    assert metric(stack.backend.url, "imgcloud_uploads_total") == uploads + 1
    assert (
        metric(stack.backend.url, "imgcloud_upload_rejections_total", 'reason="not_image"')
        == refused + 1
    )
    assert "imgcloud_queue_messages" in httpx.get(stack.backend.url + "/metrics").text


def test_worker_metrics_show_jobs_resize_time_and_queue_lag(
    api: httpx.Client, stack: Stack
) -> None:
    done = metric(stack.worker.url, "imgcloud_jobs_total", 'outcome="done"')
    finished(api, upload(api, samples.ACCEPTED["jpeg"]()).json()["id"])
    assert metric(stack.worker.url, "imgcloud_jobs_total", 'outcome="done"') == done + 1
    assert metric(stack.worker.url, "imgcloud_resize_duration_seconds_count") >= 1
    assert metric(stack.worker.url, "imgcloud_queue_lag_seconds_count") >= 1


def test_the_same_job_twice_is_harmless(api: httpx.Client, stack: Stack) -> None:
    image_id = upload(api, samples.ACCEPTED["webp"]()).json()["id"]
    first = finished(api, image_id)
    thumb = api.get(first["variants"]["thumb"]).content
    skipped = metric(stack.worker.url, "imgcloud_jobs_total", 'outcome="skipped"')
    asyncio.run(_publish_twice(stack, image_id))
    eventually(
        lambda: metric(stack.worker.url, "imgcloud_jobs_total", 'outcome="skipped"') >= skipped + 2,
        what="the worker takes both repeated jobs",
    )
    assert api.get(f"/api/images/{image_id}").json() == first
    assert api.get(first["variants"]["thumb"]).content == thumb


async def _publish_twice(stack: Stack, image_id: str) -> None:
    connection = await aio_pika.connect(stack.rabbitmq.url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        for _ in range(2):
            await channel.default_exchange.publish(
                aio_pika.Message(json.dumps({"id": image_id}).encode()),
                routing_key=stack.queue,
            )


@pytest.mark.parametrize("role", ["backend", "worker"])
def test_a_missing_setting_stops_the_command_with_its_name(role: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "imgcloud", role],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "IMGCLOUD_S3_ENDPOINT is not set" in result.stderr
