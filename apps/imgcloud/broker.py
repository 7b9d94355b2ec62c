"""RabbitMQ: the durable resize queue, confirmed publishing and bounded consuming.

The four settings that make "nothing acknowledged is lost" true live here: a durable
queue, persistent messages, publisher confirms, and manual acks with a bounded prefetch
(the worker acks; see :mod:`imgcloud.worker`). The connection is aio-pika's robust one:
after the broker comes back it reconnects and restores the consumer by itself.

Nothing loops: the queue is a quorum queue with a delivery limit. The broker counts
every delivery that ends without an ack (a nack, a worker that died or lost its
connection) and, past the limit, moves the job to ``<queue>.dead``, which the worker
also consumes to mark the image ``failed``. Quorum queues need RabbitMQ 3.8 or later;
a queue's type cannot change, so an existing classic queue of the same name makes the
declaration fail with RabbitMQ's PRECONDITION_FAILED (hence the new default name).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import (
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustChannel,
    AbstractRobustConnection,
)

log = logging.getLogger(__name__)
PUBLISH_TIMEOUT = 5.0
CONNECT_TIMEOUT = 5.0
HEARTBEAT = 10


class BrokerUnavailable(Exception):
    """The broker is not connected or did not confirm a publish."""


DELIVERY_COUNT_HEADER = "x-delivery-count"


def dead_letter_queue(queue: str) -> str:
    return f"{queue}.dead"


def queue_arguments(queue: str, delivery_limit: int) -> dict[str, Any]:
    """The job queue's arguments; the backend and the worker declare it alike."""
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": delivery_limit,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": dead_letter_queue(queue),
    }


def deliveries_before(message: AbstractIncomingMessage) -> int:
    """How many times the broker delivered this job before without an ack (0 the first time)."""
    count = (message.headers or {}).get(DELIVERY_COUNT_HEADER, 0)
    return count if isinstance(count, int) and count >= 0 else 0


class Broker:
    """One robust connection and channel to the queue, for publishing or consuming."""

    def __init__(
        self, url: str, queue: str, *, name: str, prefetch: int = 0, delivery_limit: int = 5
    ) -> None:
        self.url = url
        self.queue_name = queue
        self.name = name
        self.prefetch = prefetch
        self.delivery_limit = delivery_limit
        self.connection: AbstractRobustConnection | None = None
        self.channel: AbstractRobustChannel | None = None
        self.queue: AbstractQueue | None = None
        self.dead_queue: AbstractQueue | None = None
        self._consumer_tags: list[str] = []
        self._ready = asyncio.Event()
        # Why a broker that answers will not let us declare the queues (permissions, a
        # queue of the same name and another type); None once connected.
        self.refused: str | None = None

    @property
    def connected(self) -> bool:
        connection = self.connection
        return bool(connection and not connection.is_closed and connection.connected.is_set())

    async def connect(self) -> None:
        """Connect once; raise if the broker cannot be reached."""
        options: dict[str, Any] = {}
        if "heartbeat=" not in self.url:
            # A frozen or cut-off broker is noticed in ~2 heartbeats, not minutes.
            options["heartbeat"] = HEARTBEAT
        connection = await aio_pika.connect_robust(
            self.url,
            timeout=CONNECT_TIMEOUT,
            reconnect_interval=1,
            client_properties={"connection_name": self.name},
            **options,
        )
        try:
            channel = await connection.channel(publisher_confirms=True)
            if self.prefetch:
                await channel.set_qos(prefetch_count=self.prefetch)
            # The dead-letter queue first: a job dead-lettered to a queue that does not
            # exist yet would be dropped.
            self.dead_queue = await channel.declare_queue(
                dead_letter_queue(self.queue_name),
                durable=True,
                arguments={"x-queue-type": "quorum"},
            )
            self.queue = await channel.declare_queue(
                self.queue_name,
                durable=True,
                arguments=queue_arguments(self.queue_name, self.delivery_limit),
            )
        except BaseException:
            await connection.close()
            raise
        self.connection, self.channel = connection, channel
        self._ready.set()

    async def keep_connecting(self, max_delay: float = 5.0) -> None:
        """Connect, retrying with back-off until it works (the broker may start later)."""
        delay = 0.2
        while self.connection is None:
            try:
                await self.connect()
            except aiormq.exceptions.ChannelClosed as exc:
                # The broker answered and refused: waiting alone will not fix it, so
                # it is said where an operator looks (the worker's liveness check).
                self.refused = f"{type(exc).__name__}: {exc}"
                log.error("broker at %s refuses the queues (%s); retrying", self.safe_url, exc)
            except Exception as exc:  # any failure to reach the broker: try again
                log.warning("broker at %s not reachable (%s); retrying", self.safe_url, exc)
            else:
                self.refused = None
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)

    async def wait_ready(self) -> None:
        await self._ready.wait()

    async def publish(self, job: dict[str, Any], *, message_id: str) -> None:
        """Publish a persistent job and wait for the broker's confirm."""
        if self.channel is None or not self.connected:
            raise BrokerUnavailable("the message broker is not connected")
        message = aio_pika.Message(
            json.dumps(job).encode(),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message_id,
            timestamp=time.time(),
        )
        try:
            await asyncio.wait_for(
                self.channel.default_exchange.publish(
                    message, routing_key=self.queue_name, mandatory=True
                ),
                PUBLISH_TIMEOUT,
            )
        except Exception as exc:  # closed channel, nack, unroutable, timeout: all "not durable"
            raise BrokerUnavailable(
                f"the message broker did not confirm the job ({type(exc).__name__}: {exc})"
            ) from exc

    async def depth(self) -> int | None:
        """Messages waiting in the queue, or None when the broker cannot say."""
        if self.connection is None or not self.connected:
            return None
        try:
            # A channel of its own: a failed passive declare closes the channel it is on.
            async with asyncio.timeout(2.0), self.connection.channel() as channel:
                declared = await channel.declare_queue(self.queue_name, passive=True)
        except Exception:  # metrics only: no answer is the answer
            return None
        return declared.declaration_result.message_count

    async def consume(
        self,
        handler: Callable[[AbstractIncomingMessage], Awaitable[None]],
        dead_handler: Callable[[AbstractIncomingMessage], Awaitable[None]] | None = None,
    ) -> None:
        """Deliver jobs to ``handler`` and dead-lettered ones to ``dead_handler`` (manual
        ack); restored after reconnects."""
        await self.wait_ready()
        assert self.queue is not None and self.dead_queue is not None
        tags = [await self.queue.consume(handler, no_ack=False)]
        if dead_handler is not None:
            tags.append(await self.dead_queue.consume(dead_handler, no_ack=False))
        self._consumer_tags = [str(tag) for tag in tags]

    @property
    def consuming(self) -> bool:
        """True once :meth:`consume` registered the consumers (aio-pika restores them
        after a reconnect, and after the broker cancels one because its queue was
        deleted: it declares the queue again)."""
        return bool(self._consumer_tags)

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close()

    @property
    def safe_url(self) -> str:
        """The URL without its password, for logs."""
        head, at, tail = self.url.rpartition("@")
        if not at:
            return self.url
        scheme, _, user = head.partition("://")
        return f"{scheme}://{user.split(':')[0]}:***@{tail}"
