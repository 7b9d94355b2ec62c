"""The read side of the API: the listing, an image's view, its bytes, and delete.

A variant's bytes are negotiated: a client whose ``Accept`` names an alternate format
the workers write (``image/webp``, ``image/avif``; in IMGCLOUD_ALTERNATES order) gets
that encoding, any other gets the JPEG or PNG; every variant answer says ``Vary:
Accept`` so caches keep them apart. Only an explicit type counts: ``*/*`` and
``image/*`` get the JPEG, as every client of old did (the way imgproxy and thumbor
decide, too).
"""

from __future__ import annotations

import logging

from quart import Blueprint, Response, jsonify, request

from imgcloud import naming
from imgcloud.auth import Refused, signed_in
from imgcloud.catalog import MAX_PAGE
from imgcloud.context import API, current
from imgcloud.errors import problem, request_id
from imgcloud.formats import CONTENT_TYPES
from imgcloud.manifest import Manifest, public_view
from imgcloud.security_headers import IMAGE_POLICY
from imgcloud.widths import NotMade, width_of

log = logging.getLogger(__name__)
reads = Blueprint("reads", __name__)
_SERVABLE_TYPES = set(CONTENT_TYPES.values()) | {"image/avif"}
_BYTES_HEADERS = {
    "Content-Security-Policy": IMAGE_POLICY,
    "Cache-Control": "public, max-age=31536000, immutable",
}


@reads.get(API)
async def listing() -> tuple[Response, int]:
    """A member's own images, newest first; an admin's listing is everyone's."""
    who = await signed_in()
    raw_limit = request.args.get("limit", "24")
    after = request.args.get("after", "")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_PAGE:
        return problem(400, f"limit must be a whole number from 1 to {MAX_PAGE}", "bad_limit")
    if after and not naming.is_id(after):
        return problem(400, "after must be an image id from a previous page", "bad_cursor")
    # S3 being away is answered 503 by the app's StorageUnavailable handler.
    owner = None if who.is_admin else who.user
    manifests, cursor = await current().catalog.page(int(raw_limit), after, owner)
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
    settings = current().settings
    names = ("original", *settings.variant_names)
    if not naming.is_id(image_id):
        return no_image(image_id)
    width = width_of(variant)
    if width is not None and width in settings.widths:
        made = await made_width(image_id, width)
        if made is not None:
            return made
    elif variant not in names:
        widths = ", ".join(f"w{w}" for w in settings.widths) or "none"
        return problem(
            404,
            f"no variant named {variant!r}; known: {', '.join(names)}; widths: {widths}",
            "no_such_variant",
        )
    catalog = current().catalog
    stored = None
    vary = {}
    if variant != "original":
        vary = {"Vary": "Accept"}
        for content_type in wanted_alternates(request.headers.get("Accept", "")):
            stored = await catalog.alternate(image_id, variant, content_type)
            if stored is not None:
                break  # else an image made before this format, or not yet: the next
    if stored is None:
        stored = await catalog.variant(image_id, variant)
    if stored is None:
        answer, status = problem(404, f"{variant!r} of image {image_id!r} does not exist (yet)")
        answer.headers.update(vary)
        return answer, status
    content_type = stored.content_type
    if content_type not in _SERVABLE_TYPES:
        content_type = "application/octet-stream"
    headers = {**_BYTES_HEADERS, "ETag": stored.etag, **vary}
    if stored.etag and stored.etag in request.headers.get("If-None-Match", ""):
        return Response(b"", status=304, headers=headers)
    return Response(stored.data, content_type=content_type, headers=headers)


@reads.delete(f"{API}/<image_id>")
async def delete(image_id: str) -> tuple[Response, int]:
    who = await signed_in("delete")
    manifest = await find(image_id)
    if manifest is None:
        return no_image(image_id)
    if manifest.owner != who.user and not who.is_admin:
        raise Refused(403, "only its owner or an admin may delete this image", "not_owner")
    backend = current()
    await backend.catalog.remove(image_id, backend.settings.variant_names, manifest.owner)
    return jsonify(id=image_id, status="deleted"), 200


async def made_width(image_id: str, width: int) -> tuple[Response, int] | None:
    """None once ``w{width}`` is in S3 (the caller serves it like a variant), else why not."""
    manifest = await find(image_id)
    if manifest is None:
        return no_image(image_id)
    if manifest.status != "done":
        return problem(404, f"image {image_id!r} is {manifest.status}: no widths yet")
    try:
        await current().widths.ensure(manifest, width)
    except NotMade as exc:
        log.warning("w%d of %s not made [request %s]: %s", width, image_id, request_id(), exc)
        return problem(503, f"w{width} of image {image_id!r} cannot be made now; try again")
    return None


def wanted_alternates(accept: str) -> list[str]:
    """The alternate types the workers write that ``accept`` names with q > 0, in the
    operator's order (IMGCLOUD_ALTERNATES)."""
    named = accepted_types(accept)
    produced = [f"image/{fmt.lower()}" for fmt in current().settings.alternates]
    return [content_type for content_type in produced if named.get(content_type, 0) > 0]


def accepted_types(accept: str) -> dict[str, float]:
    """``Accept`` as media type -> q (1 when not given); a malformed q counts as 0."""
    found: dict[str, float] = {}
    for item in accept.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        if not media:
            continue
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        found[media.lower()] = quality
    return found


async def find(image_id: str) -> Manifest | None:
    if not naming.is_id(image_id):
        return None
    return await current().catalog.manifest(image_id)


def no_image(image_id: str) -> tuple[Response, int]:
    return problem(404, f"no image with id {image_id!r}")
