"""The sweeper: what stayed pending is published again or ended failed, and nothing twice.

Against the real RabbitMQ and MinIO, with a worker in this process on a queue of its
own (:mod:`apps_worker`). An upload whose job was never published is what a backend
that died between storing and publishing leaves (or a dropped dead-letter): seeded
straight into S3 with its marker, as the backend writes it. The sweeps are called with
the clock moved past ``sweep_after`` instead of waiting for it.
"""

from __future__ import annotations

import asyncio
import time

import apps_samples as samples
from apps_stack import Stack
from apps_worker import delete_queues, ended, keys, own_worker, queue_depth, running, seed
from imgcloud import naming
from imgcloud.sweeper import Sweeper

AFTER = 60  # IMGCLOUD_SWEEP_AFTER in these tests
LATER = AFTER + 5


def test_an_upload_whose_job_was_never_published_is_published_again_and_done(
    stack: Stack,
) -> None:
    worker = own_worker(stack, sweep_after=str(AFTER))

    async def scenario() -> tuple:
        async with running(worker):
            image_id = await seed(worker, samples.ACCEPTED["jpeg"]())
            young = await worker.sweeper.sweep()
            first = await worker.sweeper.sweep(time.time() + LATER)
            manifest = await ended(worker, image_id)
            marker = await worker.catalog.pending_state(image_id)
            again = await worker.sweeper.sweep(time.time() + 2 * LATER)
            return young, first, manifest, marker, again

    young, first, manifest, marker, again = asyncio.run(scenario())

    assert young == {}, "a young upload was touched: its job may well be queued"
    assert first == {"republished": 1}
    assert manifest.status == "done"
    assert marker is None, "the worker left the marker behind"
    assert again == {}


def test_an_upload_whose_original_is_gone_ends_failed_saying_so(stack: Stack) -> None:
    worker = own_worker(stack, sweep_after=str(AFTER))

    async def scenario() -> tuple:
        image_id = await seed(worker, samples.ACCEPTED["jpeg"]())
        await worker.storage.delete([naming.original_key(image_id)])
        outcome = await worker.sweeper.sweep(time.time() + LATER)
        marker = await worker.catalog.pending_state(image_id)
        return outcome, await worker.catalog.manifest(image_id), marker

    outcome, manifest, marker = asyncio.run(scenario())

    assert outcome == {"failed": 1}
    assert manifest is not None and manifest.status == "failed"
    assert manifest.error == "the original is missing from S3"
    assert marker is None


def test_a_job_that_never_finishes_is_published_a_bounded_number_of_times(stack: Stack) -> None:
    """No worker consumes here: each sweep publishes again, up to the limit; the next
    one ends the image failed instead of publishing for ever."""
    worker = own_worker(stack, sweep_after=str(AFTER), sweep_republish_limit="2")

    async def scenario() -> tuple:
        await worker.broker.connect()
        image_id = await seed(worker, samples.ACCEPTED["jpeg"]())
        now = time.time()
        outcomes = [await worker.sweeper.sweep(now + LATER * (n + 1)) for n in range(4)]
        depth = await queue_depth(worker, worker.settings.queue)
        manifest = await worker.catalog.manifest(image_id)
        return outcomes, depth, manifest

    try:
        outcomes, depth, manifest = asyncio.run(scenario())
    finally:
        asyncio.run(delete_queues(worker))

    assert outcomes == [{"republished": 1}, {"republished": 1}, {"failed": 1}, {}]
    assert depth == 2
    assert manifest is not None and manifest.status == "failed"
    assert manifest.error == "the job was published again 2 times and never finished"


def test_sweepers_running_at_once_finish_each_upload_once(stack: Stack) -> None:
    """Three workers' sweeps at the same moment over the same stale uploads: each image
    ends done with one set of variants, and a later sweep finds nothing to do."""
    worker = own_worker(stack, sweep_after=str(AFTER))
    others = [
        Sweeper(worker.settings, worker.catalog, worker.broker, worker.metrics) for _ in range(2)
    ]

    async def scenario() -> tuple:
        async with running(worker):
            ids = [await seed(worker, samples.ACCEPTED["jpeg"]()) for _ in range(5)]
            moment = time.time() + LATER
            sweeps = await asyncio.gather(
                worker.sweeper.sweep(moment), *(s.sweep(moment) for s in others)
            )
            manifests = [await ended(worker, image_id) for image_id in ids]
            later = await worker.sweeper.sweep(moment + LATER)
            stored = {i: await keys(worker, f"{naming.IMAGES_PREFIX}{i}/") for i in ids}
            return ids, sweeps, manifests, later, await keys(worker, naming.PENDING_PREFIX), stored

    ids, sweeps, manifests, later, pending, stored = asyncio.run(scenario())

    republished = sum(s.get("republished", 0) for s in sweeps)
    assert 5 <= republished <= 15, sweeps
    assert [m.status for m in manifests] == ["done"] * 5
    assert pending == set()
    assert later == {}
    for image_id in ids:
        variants = {k for k in stored[image_id] if "manifest" not in k}
        names = ("thumb", "medium", "large")
        expected = {naming.variant_key(image_id, name) for name in ("original", *names)}
        expected |= {naming.alternate_key(image_id, name, "image/webp") for name in names}
        assert variants == expected, variants
