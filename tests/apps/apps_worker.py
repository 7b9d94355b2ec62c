"""An in-process worker on a queue of its own, against the stack's real RabbitMQ and MinIO.

The stack's own worker never sees these jobs (another queue), so a test can make this
worker fail, crash or lose its consumer without touching the other tests. Conditions
are awaited with deadlines, never fixed sleeps.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aio_pika
from apps_stack import Stack
from imgcloud import config, naming
from imgcloud.broker import dead_letter_queue
from imgcloud.manifest import Manifest, VariantInfo
from imgcloud.metrics import Metrics
from imgcloud.worker import Worker

DEADLINE = 60.0


def own_worker(stack: Stack, **settings: str) -> Worker:
    """A worker on a fresh queue and bucket (``IMGCLOUD_<NAME>`` overrides as keyword
    arguments): its sweeps see only its own uploads' markers."""
    env = {
        **stack.env,
        "IMGCLOUD_QUEUE": f"test.{secrets.token_hex(4)}",
        "IMGCLOUD_S3_BUCKET": f"test-{secrets.token_hex(4)}",
        "IMGCLOUD_NODE_NAME": "test-worker",
    }
    env.update({f"IMGCLOUD_{key.upper()}": value for key, value in settings.items()})
    return Worker(config.load("worker", env), Metrics("worker"))


async def seed(worker: Worker, data: bytes, *, created: float | None = None) -> str:
    """A pending image in S3 as an upload leaves it (original, marker, manifest, index),
    with no job published."""
    created = time.time() if created is None else created
    await worker.storage.ensure_bucket()
    image_id = naming.new_id(created)
    manifest = Manifest(
        id=image_id,
        status="pending",
        created=created,
        filename="job.jpg",
        format="JPEG",
        original=VariantInfo(64, 48, len(data), "image/jpeg"),
    )
    await worker.catalog.add(manifest, data)
    return image_id


async def keys(worker: Worker, prefix: str) -> set[str]:
    found, more = await worker.storage.list_keys(prefix)
    assert not more, "more keys than a test makes"
    return set(found)


async def publish(worker: Worker, image_id: str) -> None:
    await worker.broker.publish({"id": image_id, "published": time.time()}, message_id=image_id)


async def status(worker: Worker, image_id: str) -> Manifest | None:
    return await worker.catalog.manifest(image_id)


async def until(check: Callable[[], Awaitable[Any]], what: str, within: float = DEADLINE) -> Any:
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within {within:.0f} s: {what} (last: {last!r})")


async def ended(worker: Worker, image_id: str, within: float = DEADLINE) -> Manifest:
    async def check() -> Manifest | None:
        manifest = await status(worker, image_id)
        return manifest if manifest is not None and manifest.status != "pending" else None

    return await until(check, f"image {image_id} ends", within)


@asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[asyncio.Task[None]]:
    """The worker consuming (and sweeping) while the block runs; its queues deleted after."""
    task = asyncio.create_task(worker.run())
    try:
        await until(lambda: _consuming(worker, task), "the worker consumes", 30)
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await delete_queues(worker)
        await worker.close()


async def _consuming(worker: Worker, task: asyncio.Task[None]) -> bool:
    if task.done():
        task.result()  # raises what stopped it
    return worker.broker.consuming


async def delete_queues(worker: Worker) -> None:
    queue = worker.settings.queue
    connection = await aio_pika.connect(worker.settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        for name in (queue, dead_letter_queue(queue)):
            await channel.queue_delete(name)


async def queue_depth(worker: Worker, name: str) -> int:
    connection = await aio_pika.connect(worker.settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(name, passive=True)
        return int(declared.declaration_result.message_count or 0)
