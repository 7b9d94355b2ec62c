"""The worker: takes resize jobs from RabbitMQ, writes variants and the manifest to S3.

A job is acked only after its variants and final manifest are in S3. A corrupt image
ends ``failed`` with the reason and is acked (retrying cannot fix bytes). S3 being away
is retried with back-off while the job stays unacked; if the broker goes away instead,
the unacked job returns to the queue. Doing a job twice is harmless: a finished
manifest makes a repeat a no-op, and every write goes to the same key.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor

from aio_pika.abc import AbstractIncomingMessage
from quart import Quart

from imgcloud import naming
from imgcloud.broker import Broker
from imgcloud.catalog import Catalog
from imgcloud.config import Settings
from imgcloud.imaging import CorruptImage, Rendition, render
from imgcloud.manifest import Manifest, VariantInfo
from imgcloud.metrics import Metrics
from imgcloud.storage import Storage, StorageUnavailable
from imgcloud.web import create_service_app, metrics_of

log = logging.getLogger(__name__)
MAX_BACKOFF = 15.0


class Worker:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.storage = Storage(settings)
        self.catalog = Catalog(self.storage)
        self.broker = Broker(
            settings.amqp_url,
            settings.queue,
            name=f"worker@{settings.node_name}",
            prefetch=settings.prefetch,
        )
        self.executor = ThreadPoolExecutor(settings.concurrency, thread_name_prefix="resize")

    async def run(self) -> None:
        """Connect (retrying until the broker is there) and consume until cancelled."""
        with contextlib.suppress(StorageUnavailable):
            await self.storage.ensure_bucket()
        await self.broker.keep_connecting()
        await self.broker.consume(self.handle)
        log.info("consuming %s with prefetch %d", self.settings.queue, self.settings.prefetch)

    async def close(self) -> None:
        await self.broker.close()
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def handle(self, message: AbstractIncomingMessage) -> None:
        image_id = _job_id(message.body)
        if image_id is None:
            log.error("dropping a malformed job: %r", message.body[:200])
            self.metrics.jobs.labels("invalid").inc()
            await _ack(message)
            return
        self._observe_lag(message.body)
        self.metrics.jobs_in_progress.inc()
        try:
            outcome = await self._process_with_retries(image_id, message)
        except Exception:  # a bug, not the image: keep the job, slow down, and say so
            log.exception("job %s failed unexpectedly; returning it to the queue", image_id)
            self.metrics.jobs.labels("error").inc()
            await asyncio.sleep(1.0)
            with contextlib.suppress(Exception):
                await message.nack(requeue=True)
            return
        finally:
            self.metrics.jobs_in_progress.dec()
        if outcome is not None:
            self.metrics.jobs.labels(outcome).inc()
            await _ack(message)

    async def _process_with_retries(
        self, image_id: str, message: AbstractIncomingMessage
    ) -> str | None:
        delay = 0.25
        while True:
            try:
                return await self.process(image_id)
            except StorageUnavailable as exc:
                self.metrics.jobs.labels("retried").inc()
                if _channel_closed(message):
                    # The broker will hand the job out again; do not do it twice here.
                    log.warning("job %s: %s; broker gone too, leaving it queued", image_id, exc)
                    return None
                log.warning("job %s: %s; retrying in %.1fs", image_id, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)

    async def process(self, image_id: str) -> str:
        """Do one job; return its outcome: done, failed or skipped."""
        manifest = await self.catalog.manifest(image_id)
        if manifest is None or manifest.status != "pending":
            return "skipped"  # deleted, an upload that was undone, or already finished
        original = await self.catalog.original(image_id)
        if original is None:
            return "skipped"
        started = time.perf_counter()
        try:
            renditions = await asyncio.get_running_loop().run_in_executor(
                self.executor, self._render, original.data
            )
        except CorruptImage as exc:
            result, outcome = manifest.failed(str(exc), self.settings.node_name), "failed"
        else:
            for rendition in renditions:
                await self.catalog.put_variant(
                    image_id, rendition.name, rendition.data, rendition.content_type
                )
            result, outcome = self._done(manifest, renditions), "done"
            self.metrics.resize_seconds.observe(time.perf_counter() - started)
        if await self.catalog.manifest(image_id) is None:
            # Deleted while we worked: take back what we wrote.
            await self.catalog.remove(image_id, self.settings.variant_names)
            return "skipped"
        await self.catalog.save(result)
        return outcome

    def _render(self, data: bytes) -> list[Rendition]:
        return render(data, self.settings.variants, max_pixels=self.settings.max_pixels)

    def _done(self, manifest: Manifest, renditions: list[Rendition]) -> Manifest:
        variants = {
            r.name: VariantInfo(r.width, r.height, len(r.data), r.content_type) for r in renditions
        }
        return manifest.done(variants, self.settings.node_name)

    def _observe_lag(self, body: bytes) -> None:
        with contextlib.suppress(ValueError, TypeError, KeyError):
            published = float(json.loads(body)["published"])
            self.metrics.queue_lag.observe(max(0.0, time.time() - published))


def create_app(settings: Settings) -> Quart:
    """The worker's tiny HTTP server (health, readiness, metrics) around its consumer."""
    holder: dict[str, Worker] = {}

    async def s3_check() -> str | None:
        try:
            await holder["worker"].storage.ping()
        except StorageUnavailable as exc:
            return str(exc)
        return None

    async def broker_check() -> str | None:
        connected = holder["worker"].broker.connected
        return None if connected else "the message broker is not connected"

    app = create_service_app("worker", settings, {"s3": s3_check, "broker": broker_check})
    worker = holder["worker"] = Worker(settings, metrics_of(app))
    tasks: set[asyncio.Task[None]] = set()

    @app.before_serving
    async def start() -> None:
        tasks.add(asyncio.create_task(worker.run()))

    @app.after_serving
    async def stop() -> None:
        for task in tasks:
            task.cancel()
        await worker.close()

    app.extensions["imgcloud_worker"] = worker
    return app


def _job_id(body: bytes) -> str | None:
    try:
        image_id = json.loads(body)["id"]
    except (ValueError, TypeError, KeyError):
        return None
    return image_id if isinstance(image_id, str) and naming.is_id(image_id) else None


def _channel_closed(message: AbstractIncomingMessage) -> bool:
    try:
        message.channel  # noqa: B018 - raises once the channel it came on is closed
    except Exception:
        return True
    return False


async def _ack(message: AbstractIncomingMessage) -> None:
    try:
        await message.ack()
    except Exception as exc:  # the channel died: the broker redelivers, which is harmless
        log.warning("could not ack job %s (%s); it will be redelivered", message.message_id, exc)
