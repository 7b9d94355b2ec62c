"""The upload path: ``POST /api/images``, once or retry-safe with an ``Idempotency-Key``.

An upload is acknowledged (202) only when its original and manifest are in S3 and the
broker has confirmed the persistent resize job.

Without a key, a failed step answers 503 and what was already written is removed again,
so no one sees a half-made upload.

With a key (see :mod:`imgcloud.idempotency`), every attempt runs the same steps on the
id of the key's record, and each step is safe to repeat or to race: the original and the
manifest are written only if absent (a ``done`` manifest is never reset), the job is
published again while the manifest is ``pending`` (the worker skips a finished image),
and the index entry goes last, so an image shows in the listing only once its job is
queued. A failing keyed attempt removes nothing: another attempt with the key may
already have answered 202 for the same id. A retry completes what a failed one began.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from quart import Blueprint, Response, current_app, jsonify, request
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge

from imgcloud import naming
from imgcloud.auth import signed_in
from imgcloud.broker import BrokerUnavailable
from imgcloud.context import API, Backend, current
from imgcloud.errors import problem, request_id
from imgcloud.formats import ImageInfo, Rejected, inspect
from imgcloud.idempotency import HEADER, BadKey, Record, check_key, digest
from imgcloud.manifest import Manifest, VariantInfo
from imgcloud.metadata import Unreadable, clean
from imgcloud.storage import StorageUnavailable

log = logging.getLogger(__name__)
uploads = Blueprint("uploads", __name__)
# What a refused upload tells the user; the exception itself goes to the log.
_UNAVAILABLE = {
    "s3": "the image store is not answering",
    "broker": "the job queue did not confirm it",
}


@dataclass(frozen=True)
class Upload:
    """An upload whose bytes passed validation."""

    data: bytes  # what is stored and served: the bytes sent, cleaned of metadata
    filename: str
    info: ImageInfo
    sha256: str  # of the bytes as sent: a retry with the same key must send the same
    owner: str

    def manifest(self, image_id: str, created: float) -> Manifest:
        return Manifest(
            id=image_id,
            status="pending",
            created=created,
            filename=self.filename,
            format=self.info.format,
            original=VariantInfo(
                self.info.width, self.info.height, len(self.data), self.info.content_type
            ),
            sha256=digest(self.data),
            owner=self.owner,
        )


@uploads.post(API)
async def upload() -> tuple[Response, int]:
    who = await signed_in("upload")
    backend = current()
    key = request.headers.get(HEADER)
    if key is not None:
        try:
            check_key(key)
        except BadKey as exc:
            return backend.reject(400, "bad_idempotency_key", str(exc))
    if (request.content_length or 0) > current_app.config["MAX_CONTENT_LENGTH"]:
        raise RequestEntityTooLarge()
    files = await request.files
    sent = files.get("file")
    if sent is None:
        return backend.reject(400, "no_file", "send the image as the multipart form field 'file'")
    try:
        accepted = validated(sent, backend, who.user)
        if not backend.settings.keep_metadata:
            # Off the event loop: turning a photo upright decodes and encodes it.
            accepted = await asyncio.to_thread(without_metadata, accepted)
    except Rejected as exc:
        return backend.reject(exc.status, exc.reason, exc.message)
    if key is None:
        return await store_once(backend, accepted)
    return await store_with_key(backend, accepted, key)


def validated(sent: FileStorage, backend: Backend, owner: str) -> Upload:
    data = sent.read()
    settings = backend.settings
    info = inspect(data, max_bytes=settings.max_upload_bytes, max_pixels=settings.max_pixels)
    return Upload(data, (sent.filename or "")[:200], info, digest(data), owner)


def without_metadata(accepted: Upload) -> Upload:
    """The upload as it is stored: no EXIF, GPS, XMP or comments, upright (imgcloud.metadata)."""
    try:
        cleaned = clean(accepted.data, accepted.info.format)
    except Unreadable as exc:
        raise Rejected(422, "bad_structure", str(exc)) from None
    if cleaned == accepted.data:
        return accepted
    # Measured again: upright, a photo's width and height trade places.
    pixels = accepted.info.width * accepted.info.height
    upright = inspect(cleaned, max_bytes=len(cleaned), max_pixels=pixels)
    return Upload(cleaned, accepted.filename, upright, accepted.sha256, accepted.owner)


async def store_once(backend: Backend, accepted: Upload) -> tuple[Response, int]:
    """An upload without a key: a new image, or nothing left behind."""
    manifest = accepted.manifest(naming.new_id(), time.time())
    try:
        await backend.catalog.add(manifest, accepted.data)
        await publish(backend, manifest.id)
    except (StorageUnavailable, BrokerUnavailable) as exc:
        await undo(backend, manifest)
        return not_stored(backend, manifest.id, exc)
    return acknowledged(backend, manifest.id)


async def store_with_key(backend: Backend, accepted: Upload, key: str) -> tuple[Response, int]:
    """An upload with a key: the key's image, stored (or completed) once, never undone."""
    now = time.time()
    proposed = Record(naming.new_id(now), accepted.sha256, now)
    try:
        # A key is the member's own: another member's upload with it is another upload.
        record = await backend.ledger.claim(f"{accepted.owner}/{key}", proposed)
    except StorageUnavailable as exc:
        return not_stored(backend, "(none yet)", exc)
    if record.sha256 != accepted.sha256:
        return backend.reject(
            422,
            "idempotency_key_reused",
            f"this {HEADER} was used for an upload of other bytes; use a new key per file",
        )
    if not naming.is_id(record.id):
        return not_stored(backend, record.id, StorageUnavailable("a damaged idempotency record"))
    try:
        stored = await backend.catalog.add_once(
            accepted.manifest(record.id, record.created), accepted.data
        )
        if stored.status == "pending":
            await publish(backend, record.id)
        await backend.catalog.show(record.id, stored.owner)
    except (StorageUnavailable, BrokerUnavailable) as exc:
        # Nothing is removed: another attempt with this key may have answered 202.
        return not_stored(backend, record.id, exc)
    if record != proposed:
        backend.metrics.upload_replays.inc()
    return acknowledged(backend, record.id)


async def publish(backend: Backend, image_id: str) -> None:
    await backend.broker.publish({"id": image_id, "published": time.time()}, message_id=image_id)


async def undo(backend: Backend, manifest: Manifest) -> None:
    try:
        await backend.catalog.remove(manifest.id, backend.settings.variant_names, manifest.owner)
    except StorageUnavailable as exc:
        log.error("could not remove the parts of failed upload %s: %s", manifest.id, exc)


def not_stored(backend: Backend, image_id: str, exc: Exception) -> tuple[Response, int]:
    part = "s3" if isinstance(exc, StorageUnavailable) else "broker"
    backend.metrics.upload_failures.labels(part).inc()
    log.warning("upload %s not accepted [request %s]: %s", image_id, request_id(), exc)
    return problem(503, f"the upload was not stored: {_UNAVAILABLE[part]}; try again", part)


def acknowledged(backend: Backend, image_id: str) -> tuple[Response, int]:
    backend.metrics.uploads.inc()
    response = jsonify(id=image_id, status="pending", url=f"{API}/{image_id}")
    response.headers["Location"] = f"{API}/{image_id}"
    return response, 202
