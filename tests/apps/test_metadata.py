"""Originals are stored without what the camera or editor wrote: imgcloud.metadata.

Pure logic on bytes made here with Pillow: every metadata field carries a planted
marker, and the cleaned file must not hold it anywhere, while its pixels, its colour
profile and its frames stay as they were.
"""

from __future__ import annotations

import io

import apps_samples as samples
import pytest
from imgcloud.metadata import clean
from metadata_samples import (
    ICC,
    MARKER,
    exif,
    gif_marked,
    jpeg_marked,
    png_chunk,
    png_marked,
    portrait_marked,
    tiff_marked,
    webp_marked,
)
from PIL import Image, ImageChops

# TIFF tags that say something about the photo, not how its pixels are laid out:
# description, make, model, software, date, artist, orientation, XMP, copyright, IPTC,
# Photoshop's, and the pointers to the EXIF and GPS directories.
TIFF_METADATA_TAGS = {270, 271, 272, 305, 306, 315, 274, 700, 33432, 33723, 34377, 34665, 34853}
MARKED = {
    "jpeg": ("JPEG", jpeg_marked),
    "png": ("PNG", png_marked),
    "webp-lossy": ("WEBP", webp_marked),
    "webp-lossless": ("WEBP", lambda: webp_marked(lossless=True)),
    "gif": ("GIF", gif_marked),
    "tiff": ("TIFF", tiff_marked),
}


def described(image: Image.Image) -> dict[int, object]:
    """The EXIF tags of ``image`` that describe the photo (a TIFF's layout tags aside)."""
    tags = dict(image.getexif())
    if image.format == "TIFF":
        return {tag: value for tag, value in tags.items() if tag in TIFF_METADATA_TAGS}
    return tags


def pixels(data: bytes, frame: int = 0) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.seek(frame)
    return image.convert("RGB")


def identical(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and ImageChops.difference(a, b).getbbox() is None


@pytest.mark.parametrize("name", MARKED)
def test_no_metadata_field_survives(name: str) -> None:
    image_format, make = MARKED[name]
    sent = make()
    assert sent.count(MARKER) >= 2, "the sample must carry the marker in several fields"
    cleaned = clean(sent, image_format)
    assert MARKER not in cleaned
    opened = Image.open(io.BytesIO(cleaned))
    assert not described(opened), f"EXIF left: {described(opened)}"
    assert "xmp" not in opened.info


@pytest.mark.parametrize("name", MARKED)
def test_the_pixels_and_the_colour_profile_are_kept(name: str) -> None:
    image_format, make = MARKED[name]
    sent = make()
    cleaned = clean(sent, image_format)
    assert identical(pixels(cleaned), pixels(sent)), "upright pixels must not change"
    if name != "gif":  # GIF has no colour profiles
        assert Image.open(io.BytesIO(cleaned)).info.get("icc_profile") == ICC


def test_an_animation_keeps_its_frames_and_loop() -> None:
    sent = gif_marked()
    cleaned = clean(sent, "GIF")
    animation = Image.open(io.BytesIO(cleaned))
    assert animation.n_frames == 2
    assert animation.info.get("loop") == 0
    assert identical(pixels(cleaned, 1), pixels(sent, 1))


@pytest.mark.parametrize(
    ("image_format", "name"),
    [("JPEG", "jpeg"), ("PNG", "png"), ("WEBP", "webp"), ("GIF", "gif"), ("BMP", "bmp")],
)
def test_an_image_without_metadata_comes_back_unchanged(image_format: str, name: str) -> None:
    sent = samples.ACCEPTED[name]()
    assert clean(sent, image_format) == sent


@pytest.mark.parametrize(
    ("image_format", "options"),
    [("JPEG", {"quality": 95}), ("PNG", {}), ("WEBP", {"lossless": True}), ("TIFF", {})],
)
def test_the_orientation_is_applied_to_the_pixels(image_format: str, options: dict) -> None:
    # Orientation 6: the camera was turned a quarter clockwise; shown upright, the
    # image's left edge (red) is at the top.
    sent = samples.encode(portrait_marked(), image_format, exif=exif(6), **options)
    cleaned = clean(sent, image_format)
    upright = Image.open(io.BytesIO(cleaned))
    assert upright.size == (20, 40)
    assert not described(upright), "no orientation may be left to apply twice"
    top, bottom = (
        upright.convert("RGB").getpixel((10, 2)),
        upright.convert("RGB").getpixel((10, 37)),
    )
    assert top[0] > 200 > top[2], f"the top is {top}, not red"
    assert bottom[2] > 200 > bottom[0], f"the bottom is {bottom}, not blue"


def test_a_jpeg_turned_upright_keeps_its_quantisation_tables() -> None:
    sent = samples.encode(samples.gradient(), "JPEG", quality=70, exif=exif(3))
    cleaned = clean(sent, "JPEG")
    assert Image.open(io.BytesIO(cleaned)).quantization == Image.open(io.BytesIO(sent)).quantization


def test_an_mpo_is_served_as_its_first_frame_only() -> None:
    sent = samples.mpo()
    cleaned = clean(sent, "MPO")
    assert b"MPF\x00" not in cleaned
    assert len(cleaned) < len(sent) * 0.8
    first = Image.open(io.BytesIO(cleaned))
    assert first.format == "JPEG"
    assert identical(first.convert("RGB"), pixels(sent))


def test_a_jpeg_cut_short_is_cleaned_as_far_as_it_goes() -> None:
    sent = jpeg_marked()
    cut = sent[: len(sent) * 3 // 4]
    cleaned = clean(cut, "JPEG")
    assert MARKER not in cleaned
    assert cleaned.startswith(b"\xff\xd8") and cleaned.endswith(cut[-64:])


def test_a_metadata_chunk_cut_short_at_the_end_is_dropped() -> None:
    sent = samples.encode(samples.gradient(), "PNG")
    cut = sent[: sent.rindex(b"IEND") - 4] + png_chunk(b"tEXt", b"Author\x00" + MARKER)[:-6]
    cleaned = clean(cut, "PNG")
    assert MARKER[:-2] not in cleaned
    assert cleaned == cut[: sent.rindex(b"IEND") - 4]
