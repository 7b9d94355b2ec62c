"""The resize pipeline: decode once, make every variant large to small, encode.

Pure functions of bytes in, bytes out (no I/O), so the worker runs them in a thread
and the tests run them in milliseconds. JPEGs are decoded with libjpeg's DCT scaling
(``draft``) at the smallest power-of-two size that still covers the largest variant;
each smaller variant is then resized from the one above it, not from full resolution.

Every variant is in sRGB (a colour profile is converted, then dropped: browsers treat
untagged images as sRGB), without metadata (EXIF, XMP, comments are never copied), as a
progressive JPEG or a PNG (or WebP, for a WebP source with alpha) — and, for browsers
that take them, the same pixels again in each of ``alternates`` (WebP, AVIF), which
the backend serves by the request's ``Accept``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import cast

from PIL import Image, ImageCms, ImageSequence, features

from imgcloud.config import Variant
from imgcloud.formats import CONTENT_TYPES, OPEN_FORMATS, Rejected, check_pixels
from imgcloud.metadata import EXIF_ORIENTATION, TRANSPOSE

JPEG_QUALITY = 85
WEBP_QUALITY = 85  # a WebP source with alpha: its primary rendition
# The alternates' qualities: the lowest whose mean SSIM against the variant before
# encoding is at least that of the JPEG at JPEG_QUALITY, over the bench's photos at
# every variant size (tools/alternate_quality.py; docs/apps.md has the table).
ALTERNATE_QUALITY = {"WEBP": 86, "AVIF": 70}
# libwebp's method 0-6 (Pillow's default 4) trades CPU for bytes at a given SSIM: on a
# 1280 px variant, method 2 encodes in ~70 ms where 3 and 4 take ~190; at equal mean
# SSIM, method 2 needs quality 86 (75 % of the JPEG's bytes), method 3 quality 85
# (67 %), method 1 quality 90 (97 %). docs/apps.md has the measurement.
WEBP_METHOD = 2
# libavif's speed 0-10: 8 keeps an AVIF encode within a few times a WebP's.
AVIF_SPEED = 8
ALTERNATE_FORMATS = ("WEBP", "AVIF")
# Resize in two steps when shrinking by more than this factor: a fast box reduce,
# then the filter; the result is visually the same and much cheaper on big images.
REDUCING_GAP = 3.0
RESAMPLE = Image.Resampling.BICUBIC
_ROTATED = {5, 6, 7, 8}  # EXIF orientations that swap width and height


class CorruptImage(Exception):
    """The image cannot be decoded; retrying will not help."""


@dataclass(frozen=True)
class Encoded:
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Rendition:
    name: str
    width: int
    height: int
    content_type: str
    data: bytes
    alternates: tuple[Encoded, ...] = ()


def available_alternates() -> tuple[str, ...]:
    """The alternate formats this Pillow build can encode (AVIF needs libavif)."""
    return tuple(fmt for fmt in ALTERNATE_FORMATS if features.check(fmt.lower()))


def fit(width: int, height: int, box: int) -> tuple[int, int]:
    """The size of ``width`` x ``height`` fit inside ``box`` x ``box``, never upscaled."""
    longest = max(width, height)
    if longest <= box:
        return width, height
    scale = box / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def render(
    data: bytes,
    variants: Sequence[Variant],
    *,
    max_pixels: int,
    alternates: Sequence[str] = (),
    max_frames: int = 1,
) -> list[Rendition]:
    """Decode ``data`` once and return one encoded rendition per variant, each also in
    every format of ``alternates`` (Pillow names: WEBP, AVIF) other than its own. An
    animation of at most ``max_frames`` frames (and ``max_pixels`` over all of them)
    stays animated; a longer one gives its first frame."""
    if max_frames > 1:
        animated = _animation(data, variants, max_frames, max_pixels, alternates)
        if animated is not None:
            return animated
    try:
        image, upright, source_format, icc = _decode(data, variants, max_pixels)
    except Rejected as exc:
        raise CorruptImage(exc.message) from None
    except Exception as exc:  # every decode error is a property of the bytes
        raise CorruptImage(_reason(exc)) from None
    image = _to_srgb(image, icc)
    out_format = _output_format(image, source_format)
    return [
        _with_alternates(_encode(name, resized, out_format), resized, out_format, alternates)
        for name, resized in cascade(image, variants, upright)
    ]


def render_width(
    data: bytes,
    width: int,
    *,
    max_pixels: int,
    alternates: Sequence[str] = (),
    max_frames: int = 1,
) -> Rendition:
    """``data`` resized to ``width`` wide (the height by its aspect; never upscaled), in
    its variants' format and every alternate, an animation still animated (within
    ``max_frames``, as the variants are). For the widths made on demand."""
    try:
        with Image.open(io.BytesIO(data), formats=OPEN_FORMATS) as probe:
            orientation = probe.getexif().get(EXIF_ORIENTATION, 1)
            w, h = probe.size[::-1] if orientation in _ROTATED else probe.size
    except Exception as exc:  # the bytes, not us: as in render()
        raise CorruptImage(_reason(exc)) from None
    target = (w, h) if w <= width else (width, max(1, round(h * width / w)))
    # A box of the target's longest side fits the image to exactly the target.
    (rendition,) = render(
        data,
        [Variant(f"w{width}", max(target))],
        max_pixels=max_pixels,
        alternates=alternates,
        max_frames=max_frames,
    )
    return rendition


def _animation(
    data: bytes,
    variants: Sequence[Variant],
    max_frames: int,
    max_pixels: int,
    alternates: Sequence[str],
) -> list[Rendition] | None:
    """Every frame resized, timings and loop kept: a GIF stays a GIF (and gets an
    animated WebP alternate), an animated WebP stays WebP. None when ``data`` is not an
    animation within the limits, or not one Pillow can read: the still path decides."""
    try:
        image = Image.open(io.BytesIO(data), formats=OPEN_FORMATS)
        count = getattr(image, "n_frames", 1)
        if image.format not in ("GIF", "WEBP") or count < 2 or count > max_frames:
            return None
        if image.width * image.height * count > max_pixels:
            return None  # a frame bomb: each frame small, all of them too many pixels
        frames, durations = [], []
        for frame in ImageSequence.Iterator(image):
            frames.append(frame.convert("RGBA"))
            durations.append(int(frame.info.get("duration", image.info.get("duration", 100))))
    except Exception:  # a damaged animation: the still path reports it (or shows frame 1)
        return None
    fmt = str(image.format)
    loop = int(image.info.get("loop", 0))
    full_size = image.size
    out = []
    for variant in sorted(variants, key=lambda v: v.size, reverse=True):
        if variant.mode == "fit":
            resized = [shrink(f, fit(*full_size, variant.size)) for f in frames]
        else:
            resized = [square(f, full_size, variant) for f in frames]
        primary = _save_animation(resized, fmt, durations, loop)
        extra = [
            Encoded(f"image/{alt.lower()}", _save_animation(resized, alt, durations, loop))
            for alt in alternates
            if alt == "WEBP" and alt != fmt  # AVIF: Pillow writes stills only
        ]
        width, height = resized[0].size
        out.append(
            Rendition(variant.name, width, height, CONTENT_TYPES[fmt], primary, tuple(extra))
        )
    return out


def _save_animation(frames: list[Image.Image], fmt: str, durations: list[int], loop: int) -> bytes:
    buffer = io.BytesIO()
    options: dict[str, object] = {"save_all": True, "append_images": frames[1:]}
    options.update(duration=durations, loop=loop)
    if fmt == "WEBP":
        options.update(quality=ALTERNATE_QUALITY["WEBP"], method=WEBP_METHOD)
    else:
        options.update(disposal=2)  # each frame replaces the last, transparency included
    frames[0].save(buffer, fmt, **options)
    return buffer.getvalue()


def cascade(
    image: Image.Image, variants: Sequence[Variant], full_size: tuple[int, int]
) -> list[tuple[str, Image.Image]]:
    """Resize ``image`` to each variant, largest first, each from the previous one.

    Target sizes are computed from ``full_size`` (the upright size before any draft
    scaling), so they do not depend on how the image was decoded. A square crop
    (``cover``, ``entropy``) is cut from the last fit-inside image at the scale that
    covers its box, and the next variants go on from the uncropped image.
    """
    results: list[tuple[str, Image.Image]] = []
    source = image
    for variant in sorted(variants, key=lambda v: v.size, reverse=True):
        if variant.mode == "fit":
            source = shrink(source, fit(*full_size, variant.size))
            results.append((variant.name, source))
        else:
            results.append((variant.name, square(source, full_size, variant)))
    return results


def needed(full_size: tuple[int, int], variant: Variant) -> tuple[int, int]:
    """The size the image must have before ``variant`` is cut from it."""
    if variant.mode == "fit":
        return fit(*full_size, variant.size)
    short = min(full_size)
    side = min(variant.size, short)
    return (
        max(side, round(full_size[0] * side / short)),
        max(side, round(full_size[1] * side / short)),
    )


def square(image: Image.Image, full_size: tuple[int, int], variant: Variant) -> Image.Image:
    """A ``variant.size`` square filled by ``image`` (smaller when the image's short side
    is: never upscaled), cropped at the centre or where detail (entropy) is highest."""
    side = min(variant.size, min(full_size))
    scaled = shrink(image, needed(full_size, variant))
    side = min(side, *scaled.size)  # a box reduce may land a pixel short: never pad
    return scaled.crop(_crop_box(scaled, side, variant.mode))


def _crop_box(image: Image.Image, side: int, mode: str) -> tuple[int, int, int, int]:
    width, height = image.size
    slack_x, slack_y = width - side, height - side
    offset = (slack_x // 2, slack_y // 2)
    if mode == "entropy" and max(slack_x, slack_y) > 0:
        # Nine windows along the long side; the one whose grey levels carry the most
        # information (Pillow's histogram entropy) is the one a person looks at.
        grey = image.convert("L")
        slack = max(slack_x, slack_y)
        steps = sorted({round(slack * k / 8) for k in range(9)})
        windows = [(step, 0) if slack_x else (0, step) for step in steps]
        offset = max(
            windows, key=lambda o: grey.crop((o[0], o[1], o[0] + side, o[1] + side)).entropy()
        )
    return offset[0], offset[1], offset[0] + side, offset[1] + side


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
    orientation = image.getexif().get(EXIF_ORIENTATION, 1)
    upright = image.size[::-1] if orientation in _ROTATED else image.size
    # The largest size any variant is cut from: a square crop needs its short side.
    largest = max((needed(upright, v) for v in variants), key=lambda wh: wh[0] * wh[1])
    if source_format in ("JPEG", "MPO"):
        wanted = largest[::-1] if orientation in _ROTATED else largest
        image.draft(image.mode, wanted)
    image.load()  # the first frame of an animation: Pillow opens at frame 0
    icc = image.info.get("icc_profile")
    if image.mode == "CMYK":
        image, icc = _cmyk_to_rgb(image, icc), None
    image = _normalise_mode(image)
    if orientation in TRANSPOSE:
        # By the value read before decoding: conversions above may drop the EXIF block.
        image = image.transpose(TRANSPOSE[orientation])
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


def _to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """``image`` converted from its colour profile to sRGB (as is when it has none, or
    one that cannot be read: then it is taken as sRGB, as browsers do)."""
    if not icc or image.mode not in ("RGB", "RGBA", "L"):
        return image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        target = ImageCms.createProfile("sRGB")
        mode = "RGBA" if image.mode == "RGBA" else "RGB"
        converted = ImageCms.profileToProfile(image, source, target, outputMode=mode)
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image
    if converted is None:
        return image
    return converted.convert("L") if image.mode == "L" else converted


def _save(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    options: dict[str, object] = {}
    if fmt == "JPEG":
        options.update(quality=JPEG_QUALITY, progressive=True, optimize=True)
    elif fmt == "WEBP":
        options.update(quality=WEBP_QUALITY)
    elif fmt == "PNG":
        options.update(optimize=False)
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _encode(name: str, image: Image.Image, fmt: str) -> Rendition:
    width, height = image.size
    return Rendition(name, width, height, CONTENT_TYPES[fmt], _save(image, fmt))


def _with_alternates(
    rendition: Rendition, image: Image.Image, fmt: str, alternates: Sequence[str]
) -> Rendition:
    encoded = []
    for alternate in alternates:
        if alternate == fmt:
            continue
        buffer = io.BytesIO()
        options: dict[str, object] = {"quality": ALTERNATE_QUALITY[alternate]}
        if alternate == "AVIF":
            options["speed"] = AVIF_SPEED
        elif alternate == "WEBP":
            options["method"] = WEBP_METHOD
        image.save(buffer, alternate, **options)
        encoded.append(Encoded(f"image/{alternate.lower()}", buffer.getvalue()))
    return replace(rendition, alternates=tuple(encoded))


def _reason(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    if len(text) > 200:
        text = text[:197] + "..."
    return f"the image data cannot be decoded: {text}"
