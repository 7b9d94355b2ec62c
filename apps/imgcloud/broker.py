"""RabbitMQ: the durable resize queue, confirmed publishing and bounded consuming.

The four settings that make "nothing acknowledged is lost" true live here: a durable
queue, persistent messages, publisher confirms, and manual acks with a bounded prefetch
(the worker acks; see :mod:`imgcloud.worker`). The connection is aio-pika's robust one:
after the broker comes back it reconnects and restores the consumer by itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika
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


class Broker:
    """One robust connection and channel to the queue, for publishing or consuming."""

    def __init__(self, url: str, queue: str, *, name: str, prefetch: int = 0) -> None:
        self.url = url
        self.queue_name = queue
        self.name = name
        self.prefetch = prefetch
        self.connection: AbstractRobustConnection | None = None
        self.channel: AbstractRobustChannel | None = None
        self.queue: AbstractQueue | None = None
        self._ready = asyncio.Event()

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
            self.queue = await channel.declare_queue(self.queue_name, durable=True)
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
            except Exception as exc:  # any failure to reach the broker: try again
                log.warning("broker at %s not reachable (%s); retrying", self.safe_url, exc)
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

    async def consume(self, handler: Callable[[AbstractIncomingMessage], Awaitable[None]]) -> None:
        """Deliver jobs to ``handler`` (manual ack); restored after reconnects."""
        await self.wait_ready()
        assert self.queue is not None
        await self.queue.consume(handler, no_ack=False)

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
