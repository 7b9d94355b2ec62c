"""Images as stored in S3: originals, variants, manifests, the newest-first index and
the pending markers (an upload whose job has not ended; see :mod:`imgcloud.sweeper`)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from imgcloud import naming
from imgcloud.manifest import Manifest
from imgcloud.storage import Storage, StoredObject

MAX_PAGE = 100


class Catalog:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    async def add(self, manifest: Manifest, original: bytes) -> None:
        """Store a new upload: original and pending marker, pending manifest, then its
        index entry.

        The index entry goes last so a listing never shows an image whose bytes or
        manifest are not yet there. The marker goes with the original (at once, so it
        costs no time): whatever happens after, the sweeper finds the upload.
        """
        await asyncio.gather(
            self.storage.put(
                naming.original_key(manifest.id), original, manifest.original.content_type
            ),
            self.mark_pending(manifest.id),
        )
        await self.save(manifest)
        await self.show(manifest.id, manifest.owner)

    async def add_once(self, manifest: Manifest, original: bytes) -> Manifest:
        """Store an upload's original and pending manifest unless they are there already.

        For a retried upload (same idempotency key, same bytes, same id): nothing an
        earlier attempt wrote is overwritten, so a manifest the worker already made
        ``done`` stays done. Returns the manifest in force. The index entry is left to
        :meth:`show`, once the job is safely queued.
        """
        await asyncio.gather(
            self.storage.put_if_absent(
                naming.original_key(manifest.id), original, manifest.original.content_type
            ),
            self.mark_pending(manifest.id),
        )
        key = naming.manifest_key(manifest.id)
        if await self.storage.put_if_absent(key, manifest.to_json(), "application/json"):
            return manifest
        stored = await self.manifest(manifest.id) or manifest
        if stored.status != "pending":
            await self.settle(manifest.id)  # the marker just written: the job ended long ago
        return stored

    async def show(self, image_id: str, owner: str | None = None) -> None:
        """Put the image in the newest-first listings, everyone's and its owner's
        (writing them again is harmless)."""
        keys = [naming.index_key(image_id)]
        if owner:
            keys.append(naming.owner_index_key(owner, image_id))
        await asyncio.gather(
            *(self.storage.put(key, b"", "application/octet-stream") for key in keys)
        )

    async def save(self, manifest: Manifest) -> None:
        await self.storage.put(
            naming.manifest_key(manifest.id), manifest.to_json(), "application/json"
        )

    async def manifest(self, image_id: str) -> Manifest | None:
        stored = await self.storage.get(naming.manifest_key(image_id))
        return Manifest.from_json(stored.data) if stored else None

    async def manifest_and_tag(self, image_id: str) -> tuple[Manifest, str] | None:
        """The manifest and its ETag, for a later :meth:`replace` against it."""
        stored = await self.storage.get(naming.manifest_key(image_id))
        return (Manifest.from_json(stored.data), stored.etag) if stored else None

    async def replace(self, manifest: Manifest, etag: str) -> bool:
        """Write ``manifest`` only over the version that had ``etag``; False when it
        changed or went away since (deleted, or finished by another worker)."""
        return await self.storage.put_if_unchanged(
            naming.manifest_key(manifest.id), manifest.to_json(), "application/json", etag
        )

    async def mark_pending(self, image_id: str, state: bytes = b"{}") -> None:
        """Mark an upload whose job has not ended (again: the sweeper keeps its state here)."""
        await self.storage.put(naming.pending_key(image_id), state, "application/json")

    async def pending_state(self, image_id: str) -> bytes | None:
        stored = await self.storage.get(naming.pending_key(image_id))
        return stored.data if stored else None

    async def settle(self, image_id: str) -> None:
        """The job ended (done, failed, or the image is gone): drop the pending marker."""
        await self.storage.delete([naming.pending_key(image_id)])

    async def pending(self, uploaded_before: float, limit: int = 1000) -> list[str]:
        """Up to ``limit`` ids with a pending marker uploaded before then, newest first.

        Ids sort newest first, so the listing starts at the cutoff's time: a backlog of
        young uploads costs the sweeper nothing."""
        start = naming.pending_key(naming.time_prefix(uploaded_before))
        keys, _ = await self.storage.list_keys(
            naming.PENDING_PREFIX, start_after=start, limit=limit
        )
        return [naming.id_from_pending_key(key) for key in keys]

    async def has_original(self, image_id: str) -> bool:
        return await self.storage.exists(naming.original_key(image_id))

    async def original(self, image_id: str) -> StoredObject | None:
        return await self.storage.get(naming.original_key(image_id))

    async def variant(self, image_id: str, name: str) -> StoredObject | None:
        key = (
            naming.original_key(image_id)
            if name == "original"
            else naming.variant_key(image_id, name)
        )
        return await self.storage.get(key)

    async def put_variant(self, image_id: str, name: str, data: bytes, content_type: str) -> None:
        await self.storage.put(naming.variant_key(image_id, name), data, content_type)

    async def put_alternate(self, image_id: str, name: str, data: bytes, content_type: str) -> None:
        await self.storage.put(
            naming.alternate_key(image_id, name, content_type), data, content_type
        )

    async def alternate(self, image_id: str, name: str, content_type: str) -> StoredObject | None:
        return await self.storage.get(naming.alternate_key(image_id, name, content_type))

    async def page(
        self, limit: int, after: str = "", owner: str | None = None
    ) -> tuple[list[Manifest], str | None]:
        """Up to ``limit`` images newest first, starting after id ``after``; next cursor.
        Everyone's, or ``owner``'s only."""
        limit = max(1, min(limit, MAX_PAGE))
        prefix = naming.owner_prefix(owner) if owner else naming.INDEX_PREFIX
        start = f"{prefix}{after}" if after else ""
        keys, more = await self.storage.list_keys(prefix, start_after=start, limit=limit)
        ids = [naming.id_from_index_key(key) for key in keys]
        found = await asyncio.gather(*(self.manifest(image_id) for image_id in ids))
        # An id without a manifest is being deleted right now: leave it out.
        manifests = [m for m in found if m is not None]
        return manifests, (ids[-1] if more and ids else None)

    async def remove(
        self, image_id: str, variant_names: Iterable[str], owner: str | None = None
    ) -> None:
        """Delete an image: the index entries first (it leaves the gallery), then its objects."""
        entries = [naming.index_key(image_id)]
        if owner:
            entries.append(naming.owner_index_key(owner, image_id))
        await self.storage.delete(entries)
        keys, _ = await self.storage.list_keys(f"{naming.IMAGES_PREFIX}{image_id}/")
        known = {naming.variant_key(image_id, name) for name in variant_names}
        known |= {
            naming.original_key(image_id),
            naming.manifest_key(image_id),
            naming.pending_key(image_id),
        }
        await self.storage.delete(sorted(set(keys) | known))
