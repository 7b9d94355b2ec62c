"""Widths on demand: ``GET /api/images/{id}/w{WIDTH}`` for the widths in IMGCLOUD_WIDTHS.

The first request makes the width from the best stored source — the smallest fit-inside
variant at least that wide, else the original — stores it in S3 beside the variants
(``images/<id>/w960``, and ``w960.webp`` for each alternate), and every later request
is served from there. Never upscaled: a width beyond the original's is the original's
width.

Made once, however many ask at the same moment: within a backend, requests for one
width share a single making (an asyncio future); across backends, the first to create
``images/<id>/w960.making`` (S3's If-None-Match: *) makes it and the others wait for
the result. A maker that dies leaves its claim behind: the others stop waiting after
``CLAIM_WAIT`` seconds and make it themselves (at worst a width is made twice, and the
bytes are the same).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Sequence

from imgcloud import naming
from imgcloud.catalog import Catalog
from imgcloud.config import Settings
from imgcloud.imaging import CorruptImage, Rendition, available_alternates, render_width
from imgcloud.manifest import Manifest
from imgcloud.metrics import Metrics
from imgcloud.storage import StoredObject

log = logging.getLogger(__name__)
WIDTH_NAME = re.compile(r"^w(\d{1,5})$")
CLAIM_WAIT = 15.0
POLL = 0.1


class NotMade(Exception):
    """The width cannot be made: the image is not done, or its source cannot be read."""


def width_of(name: str) -> int | None:
    """960 for ``w960``; None for any other name."""
    match = WIDTH_NAME.match(name)
    return int(match.group(1)) if match else None


def source_name(manifest: Manifest, fit_variants: Sequence[str], width: int) -> str:
    """The stored rendition to make ``width`` from: the narrowest fit-inside variant at
    least that wide, else the original."""
    wide_enough = [
        (info.width, name)
        for name, info in manifest.variants.items()
        if name in fit_variants and info.width >= width
    ]
    return min(wide_enough)[1] if wide_enough else "original"


class WidthMaker:
    def __init__(self, settings: Settings, catalog: Catalog, metrics: Metrics) -> None:
        self.settings = settings
        self.catalog = catalog
        self.metrics = metrics
        self.fit_variants = tuple(v.name for v in settings.variants if v.mode == "fit")
        self.alternates = tuple(f for f in settings.alternates if f in available_alternates())
        self._making: dict[tuple[str, int], asyncio.Future[None]] = {}

    async def ensure(self, manifest: Manifest, width: int) -> None:
        """Return once ``w{width}`` of the image is in S3 (made here, or by another)."""
        name = f"w{width}"
        if await self.catalog.storage.exists(naming.variant_key(manifest.id, name)):
            return
        key = (manifest.id, width)
        pending = self._making.get(key)
        if pending is None:
            pending = self._making[key] = asyncio.ensure_future(
                self._claim_and_make(manifest, width)
            )
            pending.add_done_callback(lambda _: self._making.pop(key, None))
        await asyncio.shield(pending)

    async def _claim_and_make(self, manifest: Manifest, width: int) -> None:
        name = f"w{width}"
        variant = naming.variant_key(manifest.id, name)
        claim = naming.variant_key(manifest.id, f"{name}.making")
        storage = self.catalog.storage
        claimed = await storage.put_if_absent(claim, self.settings.node_name.encode(), "text/plain")
        if claimed:
            try:
                # Another maker may have written the width and dropped its claim between
                # our first look and our claim: look again now that no one else can start.
                if not await storage.exists(variant):
                    await self._make(manifest, width)
            finally:
                await storage.delete([claim])
            return
        deadline = time.monotonic() + CLAIM_WAIT
        while time.monotonic() < deadline:
            if await storage.exists(variant):
                return
            await asyncio.sleep(POLL)
        log.warning("%s of %s: its maker did not finish; making it here", name, manifest.id)
        try:
            await self._make(manifest, width)
        finally:
            # The dead maker's claim: drop it, so the next asker claims rather than waits.
            await storage.delete([claim])

    async def _make(self, manifest: Manifest, width: int) -> None:
        source = source_name(manifest, self.fit_variants, width)
        stored: StoredObject | None = await self.catalog.variant(manifest.id, source)
        if stored is None:
            raise NotMade(f"its {source} is not in S3")
        try:
            rendition: Rendition = await asyncio.to_thread(
                render_width,
                stored.data,
                width,
                max_pixels=self.settings.max_pixels,
                alternates=self.alternates,
                max_frames=self.settings.max_frames,
            )
        except CorruptImage as exc:
            raise NotMade(str(exc)) from None
        name = f"w{width}"
        # The alternates first: once the primary exists, a reader may ask for them.
        await asyncio.gather(
            *(
                self.catalog.put_alternate(manifest.id, name, a.data, a.content_type)
                for a in rendition.alternates
            )
        )
        await self.catalog.put_variant(manifest.id, name, rendition.data, rendition.content_type)
        self.metrics.widths_made.inc()
        log.info("made %s of %s from its %s", name, manifest.id, source)
