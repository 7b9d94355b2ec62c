"""No job loops, and no worker sits idle for ever: the delivery limit and the consumer check.

Against the real RabbitMQ (a quorum queue with ``x-delivery-limit`` and a dead-letter
queue) and MinIO, with a worker in this process on a queue of its own
(:mod:`apps_worker`). The failures are real where they can be: a consumer that takes
a job and vanishes without an ack is a real AMQP connection closed under it; only the
encoder's error is injected (no real input makes Pillow's encoder fail after a good
decode), by replacing the worker's resize step.
"""

from __future__ import annotations

import asyncio
import secrets
import time

import aio_pika
import apps_samples as samples
import pytest
from apps_stack import Stack, finished, upload
from apps_worker import delete_queues, ended, own_worker, publish, queue_depth, running, seed, until
from imgcloud import config, naming
from imgcloud import worker as worker_module
from imgcloud.broker import dead_letter_queue
from imgcloud.worker import Worker
from quart import Quart

LIMIT = 3


def metric(worker: Worker, name: str, **labels: str) -> float:
    return worker.metrics.registry.get_sample_value(name, labels) or 0.0


def test_an_error_on_every_delivery_ends_the_image_failed_with_the_error(stack: Stack) -> None:
    worker = own_worker(stack, delivery_limit=str(LIMIT))
    attempts: list[float] = []

    def broken_encoder(data: bytes) -> list:
        attempts.append(time.monotonic())
        raise OSError("encoder error -2 when writing image file")

    worker._render = broken_encoder  # type: ignore[method-assign]

    async def scenario() -> tuple:
        async with running(worker):
            image_id = await seed(worker, samples.ACCEPTED["jpeg"]())
            await publish(worker, image_id)
            manifest = await ended(worker, image_id)
            await until(
                lambda: _empty(worker), "the job leaves the queue and the dead-letter queue"
            )
            marker = await worker.catalog.pending_state(image_id)
            return manifest, marker

    manifest, marker = asyncio.run(scenario())

    assert len(attempts) == LIMIT, f"{len(attempts)} deliveries, want the limit {LIMIT}"
    assert manifest.status == "failed"
    assert manifest.error is not None
    assert f"failed {LIMIT} times" in manifest.error
    assert "encoder error -2" in manifest.error
    assert metric(worker, "imgcloud_jobs_given_up_total", how="worker") == 1
    assert metric(worker, "imgcloud_jobs_total", outcome="failed") == 1
    assert metric(worker, "imgcloud_jobs_total", outcome="error") == LIMIT
    assert marker is None, "the pending marker stayed: the sweeper would publish it again"


def test_a_job_whose_every_delivery_dies_with_its_consumer_is_dead_lettered_and_ends_failed(
    stack: Stack,
) -> None:
    """A job that kills whatever takes it (an OOM, a segfault in a codec): each delivery
    ends with the connection gone, no ack, no nack. The broker counts the returns and
    dead-letters the job past the limit; the worker ends the image from there."""
    worker = own_worker(stack, delivery_limit=str(LIMIT))
    queue = worker.settings.queue
    url = worker.settings.amqp_url

    async def take_and_die() -> bool:
        """One delivery to a consumer that dies holding it; False when none was waiting."""
        connection = await aio_pika.connect(url)
        channel = await connection.channel()
        job = await (await channel.get_queue(queue)).get(no_ack=False, fail=False)
        await connection.close()  # unacked: the broker returns it and counts the delivery
        return job is not None

    async def scenario() -> tuple:
        # Declare the queues as the worker does, then let the "crashing" consumer take
        # every delivery before the worker consumes at all.
        await worker.broker.connect()
        image_id = await seed(worker, samples.ACCEPTED["jpeg"]())
        await publish(worker, image_id)
        deaths = 0
        while await take_and_die():
            deaths += 1
            assert deaths <= LIMIT + 5, "the broker kept handing the job out past its limit"
        dead = await queue_depth(worker, dead_letter_queue(queue))
        await worker.close()
        fresh = own_worker(
            stack, delivery_limit=str(LIMIT), queue=queue, s3_bucket=worker.settings.s3_bucket
        )
        async with running(fresh):
            manifest = await ended(fresh, image_id)
        return deaths, dead, manifest, fresh

    try:
        deaths, dead, manifest, fresh = asyncio.run(scenario())
    finally:
        asyncio.run(delete_queues(worker))

    assert deaths == LIMIT + 1, f"the job was delivered {deaths} times; limit {LIMIT}"
    assert dead == 1, "the job did not reach the dead-letter queue"
    assert manifest.status == "failed"
    assert manifest.error is not None and f"more than {LIMIT} times" in manifest.error
    assert metric(fresh, "imgcloud_jobs_given_up_total", how="dead_letter") == 1


def test_a_failing_job_does_not_hold_up_the_next_ones(stack: Stack) -> None:
    """The control: with one job failing every time, good jobs on the queue finish."""
    worker = own_worker(stack, delivery_limit=str(LIMIT))
    render = worker._render
    poisoned: set[bytes] = set()

    def fails_for_the_poison(data: bytes) -> list:
        if data in poisoned:
            raise RuntimeError("a bug in the resize step")
        return render(data)

    worker._render = fails_for_the_poison  # type: ignore[method-assign]

    async def scenario() -> list:
        async with running(worker):
            poison = samples.ACCEPTED["png"]()
            poisoned.add(poison)
            bad = await seed(worker, poison)
            good = [await seed(worker, samples.ACCEPTED["jpeg"]()) for _ in range(3)]
            for image_id in (bad, *good):
                await publish(worker, image_id)
            return [(await ended(worker, image_id)).status for image_id in (bad, *good)]

    assert asyncio.run(scenario()) == ["failed", "done", "done", "done"]


async def _classic_queue(url: str, name: str) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        await (await connection.channel()).declare_queue(name, durable=True)


@pytest.mark.parametrize("refusal", ["no read permission", "a classic queue of that name"])
def test_a_worker_the_broker_refuses_fails_its_liveness_check_with_the_reason(
    stack: Stack, refusal: str
) -> None:
    """A broker that answers and refuses the worker's queues: a user without the read
    permission (an operator's slip), or a classic queue of the same name left by an
    older release (a queue's type cannot change). Such a worker takes nothing, ever:
    /healthz says why (Nomad restarts on it), where the old worker answered live."""
    user, password = f"noread-{secrets.token_hex(3)}", secrets.token_urlsafe(12)
    queue = f"test.{secrets.token_hex(4)}"
    url = stack.rabbitmq.url
    if refusal == "no read permission":
        stack.rabbitmq.ctl("add_user", user, password)
        stack.rabbitmq.ctl("set_permissions", "-p", "/", user, ".*", ".*", "^$")
        url = stack.rabbitmq.url_for(user, password)
        expected = "ACCESS_REFUSED"
    else:
        asyncio.run(_classic_queue(url, queue))
        expected = "PRECONDITION_FAILED"
    env = {
        **stack.env,
        "IMGCLOUD_AMQP_URL": url,
        "IMGCLOUD_QUEUE": queue,
        "IMGCLOUD_NODE_NAME": "test-worker",
    }
    app: Quart = worker_module.create_app(config.load("worker", env))
    worker: Worker = app.extensions["imgcloud_worker"]

    async def scenario() -> tuple:
        async with app.test_app() as test_app:
            client = test_app.test_client()

            async def failing() -> tuple | None:
                answer = await client.get("/healthz")
                if answer.status_code == 200:
                    return None
                return answer.status_code, await answer.get_json()

            return await until(failing, "/healthz fails once the consumer is dead", 30)

    try:
        status, body = asyncio.run(scenario())
    finally:
        if refusal == "no read permission":
            stack.rabbitmq.ctl("delete_user", user)
        asyncio.run(delete_queues(own_worker(stack, queue=worker.settings.queue)))

    assert status == 503
    assert "the broker refuses the worker's queues" in body["checks"]["consumer"], body
    assert expected in body["checks"]["consumer"], body


def test_a_consuming_worker_stays_live_when_the_broker_cancels_its_consumer(
    stack: Stack,
) -> None:
    """The control, and the case that is not fatal: the queue deleted under the worker
    makes the broker cancel its consumer; aio-pika declares the queue again and consumes
    again by itself. /healthz stays 200 and a job published afterwards is done."""
    worker = own_worker(stack)

    async def scenario() -> tuple:
        async with running(worker):
            connection = await aio_pika.connect(worker.settings.amqp_url)
            async with connection:
                await (await connection.channel()).queue_delete(worker.settings.queue)
            await until(lambda: _queue_back(worker), "the queue declared again", 30)
            image_id = await seed(worker, samples.ACCEPTED["jpeg"]())
            await publish(worker, image_id)
            manifest = await ended(worker, image_id)
            return manifest, await worker.consumer_problem()

    manifest, problem = asyncio.run(scenario())

    assert manifest.status == "done"
    assert problem is None


async def _queue_back(worker: Worker) -> bool:
    try:
        await queue_depth(worker, worker.settings.queue)
    except aio_pika.exceptions.ChannelClosed:
        return False
    return True


async def _has_consumers(worker: Worker) -> bool:
    return worker.broker.consuming


async def _empty(worker: Worker) -> bool:
    queue = worker.settings.queue
    depths = [await queue_depth(worker, name) for name in (queue, dead_letter_queue(queue))]
    return depths == [0, 0]


def test_the_pending_marker_of_an_upload_is_gone_once_it_is_done(stack: Stack) -> None:
    """Through the real backend and the stack's worker: the marker an upload leaves is
    removed when its job ends, so the sweeper has nothing to publish again."""
    with stack.client(timeout=30) as client:
        answer = upload(client, samples.ACCEPTED["jpeg"]())
        assert answer.status_code == 202, answer.text
        image_id = answer.json()["id"]
        assert finished(client, image_id)["status"] == "done"
        assert naming.pending_key(image_id) not in stack.keys(naming.PENDING_PREFIX)
        client.delete(f"/api/images/{image_id}")
