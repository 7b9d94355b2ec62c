"""The resize pipeline: decode once, make every variant large to small, encode.

Pure functions of bytes in, bytes out (no I/O), so the worker runs them in a thread
and the tests run them in milliseconds. JPEGs are decoded with libjpeg's DCT scaling
(``draft``) at the smallest power-of-two size that still covers the largest variant;
each smaller variant is then resized from the one above it, not from full resolution.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from PIL import Image, ImageCms

from imgcloud.config import Variant
from imgcloud.formats import CONTENT_TYPES, OPEN_FORMATS, Rejected, check_pixels

JPEG_QUALITY = 85
WEBP_QUALITY = 85
# Resize in two steps when shrinking by more than this factor: a fast box reduce,
# then the filter; the result is visually the same and much cheaper on big images.
REDUCING_GAP = 3.0
RESAMPLE = Image.Resampling.BICUBIC
_ROTATED = {5, 6, 7, 8}  # EXIF orientations that swap width and height
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_EXIF_ORIENTATION = 0x0112


class CorruptImage(Exception):
    """The image cannot be decoded; retrying will not help."""


@dataclass(frozen=True)
class Rendition:
    name: str
    width: int
    height: int
    content_type: str
    data: bytes


def fit(width: int, height: int, box: int) -> tuple[int, int]:
    """The size of ``width`` x ``height`` fit inside ``box`` x ``box``, never upscaled."""
    longest = max(width, height)
    if longest <= box:
        return width, height
    scale = box / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def render(data: bytes, variants: Sequence[Variant], *, max_pixels: int) -> list[Rendition]:
    """Decode ``data`` once and return one encoded rendition per variant."""
    try:
        image, upright, source_format, icc = _decode(data, variants, max_pixels)
    except Rejected as exc:
        raise CorruptImage(exc.message) from None
    except Exception as exc:  # every decode error is a property of the bytes
        raise CorruptImage(_reason(exc)) from None
    out_format = _output_format(image, source_format)
    return [
        _encode(name, resized, out_format, icc)
        for name, resized in cascade(image, variants, upright)
    ]


def cascade(
    image: Image.Image, variants: Sequence[Variant], full_size: tuple[int, int]
) -> list[tuple[str, Image.Image]]:
    """Resize ``image`` to each variant, largest first, each from the previous one.

    Target sizes are computed from ``full_size`` (the upright size before any draft
    scaling), so they do not depend on how the image was decoded.
    """
    results: list[tuple[str, Image.Image]] = []
    source = image
    for variant in sorted(variants, key=lambda v: v.size, reverse=True):
        source = shrink(source, fit(*full_size, variant.size))
        results.append((variant.name, source))
    return results


def shrink(image: Image.Image, target: tuple[int, int]) -> Image.Image:
    """``image`` scaled down to ``target`` (within a pixel), as cheaply as quality allows.

    An integer factor (1280 -> 640 -> 160 with the default variants) is a box
    average, which is both the fastest and an alias-free filter at exact ratios;
    any other factor uses an antialiasing filter, after a box reduce when the
    factor is large.
    """
    if image.size == target:
        return image
    factor = round(image.width / target[0])
    if factor >= 2:
        reduced_size = (-(-image.width // factor), -(-image.height // factor))
        if all(abs(a - b) <= 1 for a, b in zip(reduced_size, target, strict=True)):
            return image.reduce(factor)
    return image.resize(target, RESAMPLE, reducing_gap=REDUCING_GAP)


def _decode(
    data: bytes, variants: Sequence[Variant], max_pixels: int
) -> tuple[Image.Image, tuple[int, int], str, bytes | None]:
    # An Image, not the ImageFile open() returns: the conversions below replace it.
    image: Image.Image = Image.open(io.BytesIO(data), formats=OPEN_FORMATS)
    source_format = image.format or ""
    check_pixels(*image.size, max_pixels)
    orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
    upright = image.size[::-1] if orientation in _ROTATED else image.size
    largest = fit(*upright, max(v.size for v in variants))
    if source_format in ("JPEG", "MPO"):
        wanted = largest[::-1] if orientation in _ROTATED else largest
        image.draft(image.mode, wanted)
    image.load()  # the first frame of an animation: Pillow opens at frame 0
    icc = image.info.get("icc_profile")
    if image.mode == "CMYK":
        image, icc = _cmyk_to_rgb(image, icc), None
    image = _normalise_mode(image)
    if orientation in _TRANSPOSE:
        # By the value read before decoding: conversions above may drop the EXIF block.
        image = image.transpose(_TRANSPOSE[orientation])
    # Draft scaling leaves the decoded image smaller than ``upright``; the cascade
    # targets sizes computed from the upright full size, so they stay exact.
    return image, upright, source_format, icc


def _cmyk_to_rgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(
                image, source, ImageCms.createProfile("sRGB"), outputMode="RGB"
            )
            if converted is not None:
                return converted
        except (ImageCms.PyCMSError, OSError):
            pass  # a broken profile: fall back to the plain conversion below
    return image.convert("RGB")


def _normalise_mode(image: Image.Image) -> Image.Image:
    """RGB, RGBA or L: what JPEG, PNG and WebP encoders take, transparency kept."""
    mode = image.mode
    if mode.startswith("I;16") or mode == "I":
        image = image.convert("I").point(lambda v: v * (1 / 256))
        return image.convert("L")
    if mode == "F":
        return image.convert("L")
    if mode == "1":
        return image.convert("L")
    has_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info
    if has_alpha:
        image = image.convert("RGBA")
        # One band, so (min, max); Pillow's type also covers the per-band tuples of
        # multi-band images.
        low, _high = cast("tuple[int, int]", image.getchannel("A").getextrema())
        return image if low < 255 else image.convert("RGB")
    if mode in ("RGB", "L"):
        return image
    return image.convert("RGB")


def _output_format(image: Image.Image, source_format: str) -> str:
    if image.mode == "RGBA":
        return "WEBP" if source_format == "WEBP" else "PNG"
    return "JPEG"


def _encode(name: str, image: Image.Image, fmt: str, icc: bytes | None) -> Rendition:
    buffer = io.BytesIO()
    options: dict[str, object] = {}
    if icc:
        options["icc_profile"] = icc
    if fmt == "JPEG":
        options.update(quality=JPEG_QUALITY)
    elif fmt == "WEBP":
        options.update(quality=WEBP_QUALITY)
    image.save(buffer, fmt, **options)
    width, height = image.size
    return Rendition(name, width, height, CONTENT_TYPES[fmt], buffer.getvalue())


def _reason(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    if len(text) > 200:
        text = text[:197] + "..."
    return f"the image data cannot be decoded: {text}"
