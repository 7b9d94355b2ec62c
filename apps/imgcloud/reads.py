"""The read side of the API: the listing, an image's view, its bytes, and delete."""

from __future__ import annotations

from quart import Blueprint, Response, jsonify, request

from imgcloud import naming
from imgcloud.catalog import MAX_PAGE
from imgcloud.context import API, current
from imgcloud.formats import CONTENT_TYPES
from imgcloud.manifest import Manifest, public_view
from imgcloud.security_headers import IMAGE_POLICY

reads = Blueprint("reads", __name__)
_SERVABLE_TYPES = set(CONTENT_TYPES.values())
_BYTES_HEADERS = {
    "Content-Security-Policy": IMAGE_POLICY,
    "Cache-Control": "public, max-age=31536000, immutable",
}


@reads.get(API)
async def listing() -> tuple[Response, int]:
    raw_limit = request.args.get("limit", "24")
    after = request.args.get("after", "")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_PAGE:
        return jsonify(error=f"limit must be a whole number from 1 to {MAX_PAGE}"), 400
    if after and not naming.is_id(after):
        return jsonify(error="after must be an image id from a previous page"), 400
    # S3 being away is answered 503 by the app's StorageUnavailable handler.
    manifests, cursor = await current().catalog.page(int(raw_limit), after)
    response = jsonify(images=[public_view(m, API) for m in manifests], next=cursor)
    response.headers["Cache-Control"] = "no-store"
    return response, 200


@reads.get(f"{API}/<image_id>")
async def status(image_id: str) -> tuple[Response, int]:
    manifest = await find(image_id)
    if manifest is None:
        return no_image(image_id)
    response = jsonify(public_view(manifest, API))
    response.headers["Cache-Control"] = "no-store"
    return response, 200


@reads.get(f"{API}/<image_id>/<variant>")
async def image_bytes(image_id: str, variant: str) -> Response | tuple[Response, int]:
    names = ("original", *current().settings.variant_names)
    if not naming.is_id(image_id):
        return no_image(image_id)
    if variant not in names:
        return jsonify(error=f"no variant named {variant!r}; known: {', '.join(names)}"), 404
    stored = await current().catalog.variant(image_id, variant)
    if stored is None:
        return jsonify(error=f"{variant!r} of image {image_id!r} does not exist (yet)"), 404
    content_type = stored.content_type
    if content_type not in _SERVABLE_TYPES:
        content_type = "application/octet-stream"
    headers = {**_BYTES_HEADERS, "ETag": stored.etag}
    if stored.etag and stored.etag in request.headers.get("If-None-Match", ""):
        return Response(b"", status=304, headers=headers)
    return Response(stored.data, content_type=content_type, headers=headers)


@reads.delete(f"{API}/<image_id>")
async def delete(image_id: str) -> tuple[Response, int]:
    if await find(image_id) is None:
        return no_image(image_id)
    backend = current()
    await backend.catalog.remove(image_id, backend.settings.variant_names)
    return jsonify(id=image_id, status="deleted"), 200


async def find(image_id: str) -> Manifest | None:
    if not naming.is_id(image_id):
        return None
    return await current().catalog.manifest(image_id)


def no_image(image_id: str) -> tuple[Response, int]:
    return jsonify(error=f"no image with id {image_id!r}"), 404
