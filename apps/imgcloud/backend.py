"""The backend: the HTTP API of DESIGN.md (upload, list, status, bytes, delete).

An upload is acknowledged (202) only when its original and manifest are in S3 and the
broker has confirmed the persistent resize job. If either step fails the answer is 503
and what was already written is removed again, so no one sees a half-made upload.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from quart import Quart, Response, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from imgcloud import naming
from imgcloud.broker import Broker, BrokerUnavailable
from imgcloud.catalog import MAX_PAGE, Catalog
from imgcloud.config import Settings
from imgcloud.formats import CONTENT_TYPES, Rejected, inspect
from imgcloud.manifest import Manifest, VariantInfo, public_view
from imgcloud.security_headers import IMAGE_POLICY
from imgcloud.storage import Storage, StorageUnavailable
from imgcloud.web import create_service_app, metrics_of

log = logging.getLogger(__name__)
API = "/api/images"
MULTIPART_OVERHEAD = 64 * 1024
_SERVABLE_TYPES = set(CONTENT_TYPES.values())
_BYTES_HEADERS = {
    "Content-Security-Policy": IMAGE_POLICY,
    "Cache-Control": "public, max-age=31536000, immutable",
}


def create_app(settings: Settings) -> Quart:
    storage = Storage(settings)
    catalog = Catalog(storage)
    broker = Broker(settings.amqp_url, settings.queue, name=f"backend@{settings.node_name}")

    async def s3_check() -> str | None:
        try:
            await storage.ping()
        except StorageUnavailable as exc:
            return str(exc)
        return None

    async def broker_check() -> str | None:
        return None if broker.connected else "the message broker is not connected"

    async def queue_depth() -> None:
        depth = await broker.depth()
        if depth is not None:
            metrics.queue_depth.set(depth)

    app = create_service_app(
        "backend", settings, {"s3": s3_check, "broker": broker_check}, queue_depth
    )
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes + MULTIPART_OVERHEAD
    metrics = metrics_of(app)
    tasks: set[asyncio.Task[None]] = set()

    @app.before_serving
    async def start() -> None:
        with contextlib.suppress(StorageUnavailable):
            await storage.ensure_bucket()
        tasks.add(asyncio.create_task(broker.keep_connecting()))

    @app.after_serving
    async def stop() -> None:
        for task in tasks:
            task.cancel()
        await broker.close()

    def reject(status: int, reason: str, message: str) -> tuple[Response, int]:
        metrics.rejections.labels(reason).inc()
        return jsonify(error=message, reason=reason), status

    @app.errorhandler(RequestEntityTooLarge)
    async def too_large(_error: RequestEntityTooLarge) -> tuple[Response, int]:
        limit = settings.max_upload_bytes / (1024 * 1024)
        return reject(413, "too_large", f"the file is larger than the limit of {limit:.1f} MB")

    @app.post(API)
    async def upload() -> tuple[Response, int]:
        if (request.content_length or 0) > app.config["MAX_CONTENT_LENGTH"]:
            raise RequestEntityTooLarge()
        files = await request.files
        upload = files.get("file")
        if upload is None:
            return reject(400, "no_file", "send the image as the multipart form field 'file'")
        data = upload.read()
        try:
            info = inspect(
                data, max_bytes=settings.max_upload_bytes, max_pixels=settings.max_pixels
            )
        except Rejected as exc:
            return reject(exc.status, exc.reason, exc.message)
        image_id = naming.new_id()
        manifest = Manifest(
            id=image_id,
            status="pending",
            created=time.time(),
            filename=(upload.filename or "")[:200],
            format=info.format,
            original=VariantInfo(info.width, info.height, len(data), info.content_type),
        )
        try:
            await catalog.add(manifest, data)
            await broker.publish({"id": image_id, "published": time.time()}, message_id=image_id)
        except (StorageUnavailable, BrokerUnavailable) as exc:
            part = "s3" if isinstance(exc, StorageUnavailable) else "broker"
            metrics.upload_failures.labels(part).inc()
            await undo(image_id)
            log.warning("upload %s not accepted: %s", image_id, exc)
            return jsonify(error=f"the upload was not stored: {exc}", reason=part), 503
        metrics.uploads.inc()
        body = {"id": image_id, "status": "pending", "url": f"{API}/{image_id}"}
        response = jsonify(body)
        response.headers["Location"] = f"{API}/{image_id}"
        return response, 202

    async def undo(image_id: str) -> None:
        try:
            await catalog.remove(image_id, settings.variant_names)
        except StorageUnavailable as exc:
            log.error("could not remove the parts of failed upload %s: %s", image_id, exc)

    @app.get(API)
    async def listing() -> tuple[Response, int]:
        raw_limit = request.args.get("limit", "24")
        after = request.args.get("after", "")
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_PAGE:
            return jsonify(error=f"limit must be a whole number from 1 to {MAX_PAGE}"), 400
        if after and not naming.is_id(after):
            return jsonify(error="after must be an image id from a previous page"), 400
        try:
            manifests, cursor = await catalog.page(int(raw_limit), after)
        except StorageUnavailable as exc:
            return jsonify(error=str(exc)), 503
        images = [public_view(m, API) for m in manifests]
        response = jsonify(images=images, next=cursor)
        response.headers["Cache-Control"] = "no-store"
        return response, 200

    @app.get(f"{API}/<image_id>")
    async def status(image_id: str) -> tuple[Response, int]:
        manifest = await find(image_id)
        if manifest is None:
            return jsonify(error=f"no image with id {image_id!r}"), 404
        response = jsonify(public_view(manifest, API))
        response.headers["Cache-Control"] = "no-store"
        return response, 200

    @app.get(f"{API}/<image_id>/<variant>")
    async def image_bytes(image_id: str, variant: str) -> Response | tuple[Response, int]:
        if not naming.is_id(image_id):
            return jsonify(error=f"no image with id {image_id!r}"), 404
        if variant != "original" and variant not in settings.variant_names:
            names = ", ".join(("original", *settings.variant_names))
            return jsonify(error=f"no variant named {variant!r}; known: {names}"), 404
        stored = await catalog.variant(image_id, variant)
        if stored is None:
            return jsonify(error=f"{variant!r} of image {image_id!r} does not exist (yet)"), 404
        content_type = stored.content_type
        if content_type not in _SERVABLE_TYPES:
            content_type = "application/octet-stream"
        headers = {**_BYTES_HEADERS, "ETag": stored.etag}
        if stored.etag and stored.etag in request.headers.get("If-None-Match", ""):
            return Response(b"", status=304, headers=headers)
        return Response(stored.data, content_type=content_type, headers=headers)

    @app.delete(f"{API}/<image_id>")
    async def delete(image_id: str) -> tuple[Response, int]:
        manifest = await find(image_id)
        if manifest is None:
            return jsonify(error=f"no image with id {image_id!r}"), 404
        await catalog.remove(image_id, settings.variant_names)
        return jsonify(id=image_id, status="deleted"), 200

    async def find(image_id: str) -> Manifest | None:
        if not naming.is_id(image_id):
            return None
        return await catalog.manifest(image_id)

    @app.errorhandler(StorageUnavailable)
    async def storage_down(error: StorageUnavailable) -> tuple[Response, int]:
        return jsonify(error=str(error), reason="s3"), 503

    app.extensions["imgcloud_broker"] = broker
    return app
