"""Decide from the bytes alone whether an upload is an image we accept.

Only what the first bytes and the header show cheaply is checked here: the format
from its magic number (never the file name or the declared type), that the header
parses, and the pixel count it declares. Pixel data is decoded by the worker; what only
a full decode reveals ends the job ``failed``.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from imgcloud.errors import Refusal

# We enforce IMGCLOUD_MAX_PIXELS ourselves from the header before any decode, in the
# backend and in the worker, so Pillow's own process-wide bomb guard would only fire
# too late (or warn instead of refusing); it is switched off in favour of ours.
Image.MAX_IMAGE_PIXELS = None

# Detected format -> the content type its bytes are served with.
CONTENT_TYPES = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",  # a JPEG with extra frames; browsers show the first one
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
}
ACCEPTED = "JPEG, PNG, WebP, GIF, BMP, TIFF or MPO"
# Pillow's decoders to try; its JPEG one also opens MPO files (and says so).
OPEN_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")

# Magic numbers of the formats we accept: (offset, bytes, Pillow format to open with).
_ACCEPTED_MAGIC = (
    (0, b"\xff\xd8\xff", "JPEG"),
    (0, b"\x89PNG\r\n\x1a\n", "PNG"),
    (0, b"GIF87a", "GIF"),
    (0, b"GIF89a", "GIF"),
    (0, b"BM", "BMP"),
    (0, b"II*\x00", "TIFF"),
    (0, b"MM\x00*", "TIFF"),
)
# Images we recognise but do not take, so the message can say what was sent.
_OTHER_IMAGE_MAGIC = (
    (4, b"ftypheic", "HEIC"),
    (4, b"ftypheix", "HEIC"),
    (4, b"ftypmif1", "HEIF"),
    (4, b"ftypavif", "AVIF"),
    (0, b"\x00\x00\x01\x00", "ICO"),
    (0, b"8BPS", "PSD"),
    (0, b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (0, b"\xff\x0a", "JPEG XL"),
    (0, b"\x00\x00\x00\x0cJXL ", "JPEG XL"),
    (0, b"qoif", "QOI"),
    (0, b"II\xbc", "JPEG XR"),
    (0, b"%PDF", "PDF"),
)


class Rejected(Refusal):
    """An upload refused before anything is stored: HTTP status, metric reason, message."""


@dataclass(frozen=True)
class ImageInfo:
    format: str
    content_type: str
    width: int
    height: int


def sniff(head: bytes) -> str | None:
    """The accepted format the leading bytes announce, or None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    for offset, magic, name in _ACCEPTED_MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return name
    return None


def inspect(data: bytes, *, max_bytes: int, max_pixels: int) -> ImageInfo:
    """Check an upload from its bytes; raise :class:`Rejected` with a clear reason."""
    if not data:
        raise Rejected(400, "empty", "the file is empty")
    if len(data) > max_bytes:
        raise Rejected(
            413, "too_large", f"the file is {_mb(len(data))}; the limit is {_mb(max_bytes)}"
        )
    family = sniff(data[:64])
    if family is None:
        raise _not_accepted(data[:512])
    width, height, detected = _read_header(data, family)
    check_pixels(width, height, max_pixels)
    return ImageInfo(detected, CONTENT_TYPES[detected], width, height)


def check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise Rejected(422, "bad_header", f"the header declares a {width}x{height} image")
    if width * height > max_pixels:
        raise Rejected(
            413,
            "too_many_pixels",
            f"the image is {width}x{height} = {_mp(width * height)}; "
            f"the limit is {_mp(max_pixels)}",
        )


def _read_header(data: bytes, family: str) -> tuple[int, int, str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns about odd but readable headers
            image = Image.open(io.BytesIO(data), formats=[family])
            width, height = image.size
            detected = image.format or family
    except Exception as exc:  # Pillow raises many kinds for a header it cannot read
        raise Rejected(
            422, "bad_header", f"the {_label(family)} header does not parse: {_why(exc)}"
        ) from None
    if detected not in CONTENT_TYPES:
        raise Rejected(415, "unsupported_format", f"{detected} images are not supported")
    return width, height, detected


def _not_accepted(head: bytes) -> Rejected:
    for offset, magic, name in _OTHER_IMAGE_MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return Rejected(
                415,
                "unsupported_format",
                f"{name} files are not supported; send {ACCEPTED}",
            )
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if b"<svg" in text or (text.startswith(b"<?xml") and b"svg" in text):
        message = f"SVG is a vector format, not a raster image; send {ACCEPTED}"
    elif text.startswith((b"<!doctype html", b"<html", b"<")):
        message = f"this is HTML or XML, not an image; send {ACCEPTED}"
    else:
        message = f"this is not an image (its bytes match no raster format); send {ACCEPTED}"
    return Rejected(415, "not_image", message)


def _label(family: str) -> str:
    return {"WEBP": "WebP"}.get(family, family)


def _why(exc: Exception) -> str:
    if isinstance(exc, UnidentifiedImageError):
        return "it is malformed or incomplete"
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) < 160 else text[:157] + "..."


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def _mp(pixels: int) -> str:
    return f"{pixels / 1_000_000:.1f} MP"
