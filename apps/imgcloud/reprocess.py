"""``imgcloud reprocess``: new presets and formats reach the images made before them.

Walks the listing (``index/``, newest first, a page at a time) and publishes a
reprocess job for every ``done`` image whose manifest lacks a configured variant or
one of its alternate formats (``--all``: every done image). The worker re-renders
such an image from its original and writes the new manifest only over the version it
read (If-Match), so a delete meanwhile stays final and an upload in flight is not
touched. Idempotent: a second run finds nothing missing and publishes nothing. Safe
under traffic: jobs go through the same queue as uploads, at most ``--rate`` a second,
and each is small.

It runs where the settings are (the same IMGCLOUD_* as the worker: S3, the broker,
the variants and alternates), e.g. inside a worker's container on a VM:
``docker exec <worker> imgcloud reprocess``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from imgcloud import config
from imgcloud.broker import Broker, BrokerUnavailable
from imgcloud.catalog import MAX_PAGE, Catalog
from imgcloud.imaging import available_alternates
from imgcloud.manifest import Manifest
from imgcloud.storage import Storage, StorageUnavailable


@dataclass
class Progress:
    seen: int = 0
    queued: int = 0
    started: float = 0.0

    def line(self) -> str:
        return (
            f"reprocess: {self.seen} images seen, {self.queued} queued "
            f"({time.monotonic() - self.started:.0f} s)"
        )


def missing(manifest: Manifest, settings: config.Settings, alternates: Sequence[str]) -> list[str]:
    """What a done image lacks of the configuration: variant names, and `name.webp`-style
    alternates."""
    lacks = [name for name in settings.variant_names if name not in manifest.variants]
    for name, info in manifest.variants.items():
        if name not in settings.variant_names:
            continue
        lacks += [
            f"{name}.{fmt.lower()}"
            for fmt in alternates
            if f"image/{fmt.lower()}" not in info.alternates
            and info.content_type != f"image/{fmt.lower()}"
        ]
    return lacks


async def reprocess(
    settings: config.Settings,
    *,
    everything: bool = False,
    rate: float = 50.0,
    dry_run: bool = False,
    report_every: int = 100,
    limit: int | None = None,
) -> Progress:
    storage = Storage(settings)
    catalog = Catalog(storage)
    alternates = tuple(f for f in settings.alternates if f in available_alternates())
    broker = Broker(
        settings.amqp_url,
        settings.queue,
        name=f"reprocess@{settings.node_name}",
        delivery_limit=settings.delivery_limit,
    )
    progress = Progress(started=time.monotonic())
    if not dry_run:
        await broker.connect()
    try:
        after = ""
        while True:
            manifests, cursor = await catalog.page(MAX_PAGE, after)
            for manifest in manifests:
                progress.seen += 1
                if manifest.status != "done":
                    continue  # pending: its job is coming; failed: the bytes are bad
                if not everything and not missing(manifest, settings, alternates):
                    continue
                if not dry_run:
                    await broker.publish(
                        {"id": manifest.id, "published": time.time(), "reprocess": True},
                        message_id=f"{manifest.id}.reprocess",
                    )
                    await asyncio.sleep(1 / rate)
                progress.queued += 1
                if progress.queued % report_every == 0:
                    print(progress.line(), flush=True)
                if limit is not None and progress.queued >= limit:
                    return progress
            if cursor is None:
                return progress
            after = cursor
    finally:
        await broker.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="imgcloud reprocess", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--all", action="store_true", help="every done image, not only those lacking something"
    )
    parser.add_argument(
        "--rate", type=float, default=50.0, help="jobs published per second at most"
    )
    parser.add_argument("--dry-run", action="store_true", help="count what would be queued")
    parser.add_argument(
        "--limit", type=int, help="stop after queueing this many (the newest first)"
    )
    args = parser.parse_args(argv)
    if args.rate <= 0:
        parser.error("--rate must be greater than zero")
    if args.limit is not None and args.limit <= 0:
        parser.error("--limit must be greater than zero")
    try:
        settings = config.load("worker")
    except config.ConfigError as exc:
        print(f"imgcloud reprocess: {exc}", file=sys.stderr)
        return 2
    try:
        progress = asyncio.run(
            reprocess(
                settings,
                everything=args.all,
                rate=args.rate,
                dry_run=args.dry_run,
                limit=args.limit,
            )
        )
    except (StorageUnavailable, BrokerUnavailable) as exc:
        print(
            f"imgcloud reprocess: stopped: {exc}; run it again (it is idempotent)", file=sys.stderr
        )
        return 1
    print(progress.line() + (" (dry run: nothing published)" if args.dry_run else ""), flush=True)
    return 0
