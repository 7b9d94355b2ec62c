"""The worker: takes resize jobs from RabbitMQ, writes variants and the manifest to S3.

A job is acked only after its variants and final manifest are in S3; the manifest is
written only over the pending version the job started from (If-Match), so a DELETE
during the resize stays final. A corrupt image
ends ``failed`` with the reason and is acked (retrying cannot fix bytes). S3 being away
is retried with back-off while the job stays unacked; if the broker goes away instead,
the unacked job returns to the queue. Doing a job twice is harmless: a finished
manifest makes a repeat a no-op, and every write goes to the same key.

Nothing loops: an unexpected error (an encoder's, a bug) returns the job to the queue
until its ``delivery_limit``-th delivery, which ends the image ``failed`` with that
error; a job whose deliveries all ended in a crash is dead-lettered by the broker past
the same limit and ended ``failed`` from the dead-letter queue. Nothing is lost: the
sweeper (:mod:`imgcloud.sweeper`) publishes again what stayed ``pending`` too long.
A worker the broker refuses (permissions, a classic queue of the same name), or whose
consumer task died, fails its liveness check, so Nomad restarts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

from aio_pika.abc import AbstractIncomingMessage
from quart import Quart

from imgcloud import naming
from imgcloud.broker import Broker, deliveries_before
from imgcloud.catalog import Catalog
from imgcloud.config import Settings
from imgcloud.imaging import CorruptImage, Rendition, available_alternates, render
from imgcloud.manifest import Manifest, VariantInfo
from imgcloud.metrics import Metrics
from imgcloud.storage import Storage, StorageUnavailable
from imgcloud.sweeper import Sweeper
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
            delivery_limit=settings.delivery_limit,
        )
        self.sweeper = Sweeper(settings, self.catalog, self.broker, metrics)
        self.executor = ThreadPoolExecutor(settings.concurrency, thread_name_prefix="resize")
        # What was asked for and this Pillow build can encode (AVIF needs libavif).
        self.alternates = tuple(f for f in settings.alternates if f in available_alternates())
        for missing in sorted(set(settings.alternates) - set(self.alternates)):
            log.warning("IMGCLOUD_ALTERNATES asks for %s: this Pillow cannot encode it", missing)

    async def run(self) -> None:
        """Connect (retrying until the broker is there), consume and sweep until cancelled."""
        with contextlib.suppress(StorageUnavailable):
            await self.storage.ensure_bucket()
        await self.broker.keep_connecting()
        await self.broker.consume(self.handle, self.handle_dead)
        log.info("consuming %s with prefetch %d", self.settings.queue, self.settings.prefetch)
        await self.sweeper.run()

    async def consumer_problem(self) -> str | None:
        """Why this worker takes no jobs and will not again by itself (None if it will)."""
        if self.broker.refused is not None:
            return f"the broker refuses the worker's queues: {self.broker.refused}"
        return None

    async def close(self) -> None:
        await self.broker.close()
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def handle(self, message: AbstractIncomingMessage) -> None:
        image_id = _job_id(message.body)
        again = _is_reprocess(message.body)
        if image_id is None:
            log.error("dropping a malformed job: %r", message.body[:200])
            self.metrics.jobs.labels("invalid").inc()
            await _ack(message)
            return
        self._observe_lag(message.body)
        self.metrics.jobs_in_progress.inc()
        try:
            outcome = await self._with_retries(
                lambda: self.process(image_id, again=again), image_id, message
            )
        except Exception as exc:  # not the bytes (an encoder's error, a bug): a few tries
            self.metrics.jobs.labels("error").inc()
            delivery = deliveries_before(message) + 1
            if delivery < self.settings.delivery_limit:
                log.exception(
                    "job %s failed unexpectedly on delivery %d of %d; returning it to the queue",
                    image_id,
                    delivery,
                    self.settings.delivery_limit,
                )
                await asyncio.sleep(1.0)
                with contextlib.suppress(Exception):
                    await message.nack(requeue=True)
                return
            log.exception("job %s failed on its last delivery (%d); giving up", image_id, delivery)
            reason = f"the job failed {delivery} times; the last error: {_describe(exc)}"
            outcome = await self._with_retries(
                lambda: self.give_up(image_id, reason, "worker"), image_id, message
            )
        finally:
            self.metrics.jobs_in_progress.dec()
        if outcome is not None:
            self.metrics.jobs.labels(outcome).inc()
            await _ack(message)

    async def handle_dead(self, message: AbstractIncomingMessage) -> None:
        """A job the broker dead-lettered: delivered past the limit, never acked (each
        delivery ended with its worker gone). The image ends failed, saying so."""
        image_id = _job_id(message.body)
        if image_id is not None:
            reason = (
                f"the job was delivered more than {self.settings.delivery_limit} times and "
                "never finished: the worker stopped or lost the broker each time"
            )
            outcome = await self._with_retries(
                lambda: self.give_up(image_id, reason, "dead_letter"), image_id, message
            )
            if outcome is None:
                return
            self.metrics.jobs.labels(outcome).inc()
        await _ack(message)

    async def give_up(self, image_id: str, reason: str, how: str) -> str:
        """End a pending image ``failed`` with ``reason``; the outcome (failed or skipped)."""
        found = await self.catalog.manifest_and_tag(image_id)
        outcome = "skipped"
        if found is not None and found[0].status == "pending":
            manifest, etag = found
            if await self.catalog.replace(manifest.failed(reason, self.settings.node_name), etag):
                self.metrics.jobs_given_up.labels(how).inc()
                outcome = "failed"
        await self.catalog.settle(image_id)
        return outcome

    async def _with_retries(
        self,
        attempt: Callable[[], Awaitable[str]],
        image_id: str,
        message: AbstractIncomingMessage,
    ) -> str | None:
        delay = 0.25
        while True:
            try:
                return await attempt()
            except StorageUnavailable as exc:
                self.metrics.jobs.labels("retried").inc()
                if _channel_closed(message):
                    # The broker will hand the job out again; do not do it twice here.
                    log.warning("job %s: %s; broker gone too, leaving it queued", image_id, exc)
                    return None
                log.warning("job %s: %s; retrying in %.1fs", image_id, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)

    async def process(self, image_id: str, *, again: bool = False) -> str:
        """Do one job; return its outcome: done, failed or skipped. ``again``: a reprocess
        job, for an image already done (new presets or formats)."""
        found = await self.catalog.manifest_and_tag(image_id)
        wanted = ("pending", "done") if again else ("pending",)
        if found is None or found[0].status not in wanted:
            # Deleted, an upload that was undone, or already finished.
            await self.catalog.settle(image_id)
            return "skipped"
        manifest, etag = found
        original = await self.catalog.original(image_id)
        if original is None:
            return "skipped"  # being deleted, or lost: the sweeper ends it failed
        started = time.perf_counter()
        try:
            renditions = await asyncio.get_running_loop().run_in_executor(
                self.executor, self._render, original.data
            )
        except CorruptImage as exc:
            result, outcome = manifest.failed(str(exc), self.settings.node_name), "failed"
        else:
            # At once: each PUT mostly waits on S3, and the job holds its message meanwhile.
            await asyncio.gather(
                *(
                    self.catalog.put_variant(image_id, r.name, r.data, r.content_type)
                    for r in renditions
                ),
                *(
                    self.catalog.put_alternate(image_id, r.name, a.data, a.content_type)
                    for r in renditions
                    for a in r.alternates
                ),
            )
            result, outcome = self._done(manifest, renditions), "done"
            self.metrics.resize_seconds.observe(time.perf_counter() - started)
        # Only over the pending manifest read above: one conditional PUT instead of a
        # read and a write, and a delete in the meantime cannot be undone by this write.
        if await self.catalog.replace(result, etag):
            await self.catalog.settle(image_id)
            return outcome
        if await self.catalog.manifest(image_id) is None:
            # Deleted while we worked: take back what we wrote.
            await self.catalog.remove(image_id, self.settings.variant_names, manifest.owner)
        return "skipped"  # or another worker finished it first: its manifest stands

    def _render(self, data: bytes) -> list[Rendition]:
        return render(
            data,
            self.settings.variants,
            max_pixels=self.settings.max_pixels,
            alternates=self.alternates,
            max_frames=self.settings.max_frames,
        )

    def _done(self, manifest: Manifest, renditions: list[Rendition]) -> Manifest:
        variants = {
            r.name: VariantInfo(
                r.width,
                r.height,
                len(r.data),
                r.content_type,
                {a.content_type: len(a.data) for a in r.alternates},
            )
            for r in renditions
        }
        return manifest.done(variants, self.settings.node_name)

    def encodes(self) -> list[str]:
        """The formats this worker writes variants in (shown in /readyz)."""
        return ["image/jpeg", "image/png", *(f"image/{f.lower()}" for f in self.alternates)]

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
        broker = holder["worker"].broker
        if broker.refused is not None:
            return f"the message broker refuses the queues: {broker.refused}"
        return None if broker.connected else "the message broker is not connected"

    async def consumer_check() -> str | None:
        """Liveness: a worker that will never take a job again is restarted (Nomad)."""
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                return f"the consumer stopped: {_describe(task.exception())}"
        return await holder["worker"].consumer_problem()

    app = create_service_app(
        "worker",
        settings,
        {"s3": s3_check, "broker": broker_check},
        liveness={"consumer": consumer_check},
        facts=lambda: {"encodes": holder["worker"].encodes()},
    )
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


def _describe(exc: BaseException | None) -> str:
    text = f"{type(exc).__name__}: {exc}" if exc is not None else "unknown"
    return text if len(text) <= 300 else text[:297] + "..."


def _is_reprocess(body: bytes) -> bool:
    try:
        return json.loads(body).get("reprocess") is True
    except (ValueError, TypeError, AttributeError):
        return False


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
