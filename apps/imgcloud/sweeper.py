"""The sweeper: uploads whose job never ended are published again, or ended ``failed``.

A job can go missing without any error: a backend that dies between storing an upload
and publishing its job, a broker that drops a dead-lettered job, a queue deleted by
hand. Every upload leaves a marker ``pending/<id>`` (written with its original, removed
once its job ends), so what is unfinished can be found without reading every manifest.

Every worker sweeps, at a jittered interval; any number may sweep at once. A marker
older than ``sweep_after`` (the id carries the upload time; the marker, the time of its
last republish) is looked at:

- the image is gone, or its manifest is no longer ``pending``: the marker is removed;
- its original is missing: the manifest ends ``failed`` (a conditional write: a worker
  finishing it meanwhile wins);
- it was republished ``sweep_republish_limit`` times already: ``failed``, with that reason;
- else its job is published again and the marker records it.

Two sweepers racing publish a job twice at worst, which the worker makes a no-op.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from dataclasses import dataclass

from imgcloud import naming
from imgcloud.broker import Broker, BrokerUnavailable
from imgcloud.catalog import Catalog
from imgcloud.config import Settings
from imgcloud.metrics import Metrics
from imgcloud.storage import StorageUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Marker:
    """What the sweeper keeps in a pending marker: how often and when it republished."""

    republished: int = 0
    at: float = 0.0

    @classmethod
    def parse(cls, raw: bytes) -> Marker:
        try:
            data = json.loads(raw or b"{}")
            return cls(int(data.get("republished", 0)), float(data.get("at", 0.0)))
        except (ValueError, TypeError, AttributeError):
            return cls()  # a marker written by an older release, or damaged: start afresh

    def to_json(self) -> bytes:
        return json.dumps({"republished": self.republished, "at": self.at}).encode()


class Sweeper:
    def __init__(
        self, settings: Settings, catalog: Catalog, broker: Broker, metrics: Metrics
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.broker = broker
        self.metrics = metrics

    async def run(self) -> None:
        """Sweep until cancelled; a sweep that meets S3 or the broker away waits for the next."""
        interval = self.settings.sweep_interval
        while True:
            # Jitter keeps the workers' sweeps apart, so they rarely publish a job twice.
            await asyncio.sleep(interval * random.uniform(0.5, 1.5))
            try:
                await self.sweep()
            except (StorageUnavailable, BrokerUnavailable) as exc:
                log.warning("sweep stopped: %s; again at the next", exc)
            except Exception:  # a bug must not end the sweeps, nor the worker with them
                log.exception("sweep failed; again at the next")

    async def sweep(self, now: float | None = None) -> dict[str, int]:
        """One pass over the pending markers; how many of each outcome."""
        now = time.time() if now is None else now
        outcomes: dict[str, int] = {}
        for image_id in await self.catalog.pending(uploaded_before=now - self.settings.sweep_after):
            if not naming.is_id(image_id):
                continue
            outcome = await self.look_at(image_id, now)
            if outcome:
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                self.metrics.sweeps.labels(outcome).inc()
        if outcomes:
            log.info("swept pending uploads: %s", outcomes)
        return outcomes

    async def look_at(self, image_id: str, now: float) -> str | None:
        raw = await self.catalog.pending_state(image_id)
        if raw is None:
            return None  # settled meanwhile
        marker = Marker.parse(raw)
        if now - marker.at < self.settings.sweep_after:
            return None  # republished lately: give that job its time
        found = await self.catalog.manifest_and_tag(image_id)
        if found is None or found[0].status != "pending":
            await self.catalog.settle(image_id)
            return "settled"
        manifest, etag = found
        reason = None
        if not await self.catalog.has_original(image_id):
            reason = "the original is missing from S3"
        elif marker.republished >= self.settings.sweep_republish_limit:
            reason = f"the job was published again {marker.republished} times and never finished"
        if reason is not None:
            failed = manifest.failed(reason, f"sweeper@{self.settings.node_name}")
            if await self.catalog.replace(failed, etag):
                self.metrics.jobs.labels("failed").inc()
            await self.catalog.settle(image_id)
            return "failed"
        await self.broker.publish({"id": image_id, "published": now}, message_id=image_id)
        await self.catalog.mark_pending(image_id, Marker(marker.republished + 1, now).to_json())
        log.warning(
            "upload %s was pending for %.0f s: its job is published again",
            image_id,
            now - naming.created_at(image_id),
        )
        return "republished"
