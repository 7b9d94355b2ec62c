"""The resize pipeline on real encoded images: sizes, orientation, modes, alpha, frames."""

from __future__ import annotations

import io

import apps_samples as samples
import pytest
from imgcloud.config import Variant, parse_variants
from imgcloud.imaging import CorruptImage, fit, render
from PIL import Image

DEFAULT = parse_variants("thumb=160,medium=640,large=1280")


def rendered(data: bytes, variants: tuple[Variant, ...] = DEFAULT) -> dict[str, Image.Image]:
    out = render(data, variants, max_pixels=50_000_000)
    images = {}
    for r in out:
        image = Image.open(io.BytesIO(r.data))
        assert Image.MIME[image.format] == r.content_type
        assert image.size == (r.width, r.height)
        images[r.name] = image
    return images


@pytest.mark.parametrize(
    ("size", "box", "expected"),
    [
        ((4000, 3000), 1280, (1280, 960)),
        ((3000, 4000), 640, (480, 640)),
        ((6000, 4000), 160, (160, 107)),
        ((100, 50), 160, (100, 50)),
        ((10000, 3), 160, (160, 1)),
    ],
)
def test_fit_keeps_aspect_ratio_and_never_upscales(size, box, expected) -> None:
    assert fit(*size, box) == expected


@pytest.mark.parametrize(("width", "height"), [(4000, 3000), (2999, 1999), (1000, 1500)])
def test_every_variant_fits_its_box_from_a_jpeg(width: int, height: int) -> None:
    images = rendered(samples.encode(samples.gradient(width, height), "JPEG"))
    for variant in DEFAULT:
        expected = fit(width, height, variant.size)
        got = images[variant.name].size
        assert max(got) <= variant.size
        assert abs(got[0] - expected[0]) <= 1 and abs(got[1] - expected[1]) <= 1


def test_small_images_are_not_upscaled() -> None:
    images = rendered(samples.encode(samples.gradient(120, 90), "PNG"))
    assert {name: image.size for name, image in images.items()} == {
        "large": (120, 90),
        "medium": (120, 90),
        "thumb": (120, 90),
    }


@pytest.mark.parametrize(
    ("orientation", "upright"), [(1, (400, 200)), (6, (200, 400)), (8, (200, 400)), (3, (400, 200))]
)
def test_exif_orientation_is_applied(orientation: int, upright: tuple[int, int]) -> None:
    image = samples.gradient(400, 200)
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = samples.encode(image, "JPEG", exif=exif.tobytes())
    thumb = rendered(data, (Variant("thumb", 160),))["thumb"]
    assert thumb.size == fit(*upright, 160)
    # The dark square starts top-left; after rotation by 6 (90° clockwise) it is top-right.
    corner = {
        1: (2, 2),
        3: (thumb.width - 3, thumb.height - 3),
        6: (thumb.width - 3, 2),
        8: (2, thumb.height - 3),
    }[orientation]
    assert sum(thumb.convert("RGB").getpixel(corner)) < 120


def test_a_rotated_cmyk_jpeg_is_upright_rgb() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    cmyk = Image.new("CMYK", (400, 200), (0, 0, 0, 0))
    data = samples.encode(cmyk, "JPEG", exif=exif.tobytes())
    thumb = rendered(data, (Variant("thumb", 160),))["thumb"]
    assert (thumb.mode, thumb.size) == ("RGB", (80, 160))


def test_cmyk_jpeg_becomes_rgb_with_the_right_colours() -> None:
    cmyk = Image.new("CMYK", (300, 200), (0, 255, 255, 0))  # pure red in CMYK
    images = rendered(samples.encode(cmyk, "JPEG", quality=95))
    thumb = images["thumb"]
    assert thumb.mode == "RGB"
    red, green, blue = thumb.getpixel((50, 50))
    assert red > 200 and green < 60 and blue < 60


def test_palette_png_with_transparency_keeps_it_as_png() -> None:
    image = Image.new("P", (300, 200), 1)
    image.putpalette([255, 255, 255, 200, 0, 0] + [0] * 762)
    image.paste(0, (0, 0, 150, 200))
    data = samples.encode(image, "PNG", transparency=0)
    thumb = rendered(data)["thumb"]
    assert thumb.format == "PNG" and thumb.mode == "RGBA"
    assert thumb.getpixel((5, 5))[3] == 0 and thumb.getpixel((150, 50))[3] == 255


def test_webp_with_alpha_stays_webp_with_alpha() -> None:
    image = Image.new("RGBA", (300, 200), (0, 128, 255, 0))
    image.paste((0, 128, 255, 255), (100, 50, 200, 150))
    thumb = rendered(samples.encode(image, "WEBP", lossless=True))["thumb"]
    assert thumb.format == "WEBP" and thumb.mode == "RGBA"
    assert thumb.getpixel((2, 2))[3] == 0


def test_opaque_alpha_is_flattened_to_jpeg() -> None:
    data = samples.encode(samples.gradient(300, 200, "RGBA"), "PNG")
    assert rendered(data)["thumb"].format == "JPEG"


def test_an_animation_gives_its_first_frame() -> None:
    frames = [Image.new("RGB", (200, 100), colour) for colour in ("red", "blue", "green")]
    data = samples.encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    red, _green, blue = rendered(data)["thumb"].convert("RGB").getpixel((50, 50))
    assert red > 200 and blue < 50


def test_sixteen_bit_grey_keeps_its_tones() -> None:
    image = Image.linear_gradient("L").resize((256, 256)).convert("I")
    image = image.point(lambda v: v * 256)
    data = samples.encode(image.convert("I;16"), "PNG")
    thumb = rendered(data)["thumb"]
    assert thumb.mode == "L"
    assert thumb.getpixel((80, 150)) > 100  # not clipped to white or crushed to black


def test_mpo_uses_its_first_image() -> None:
    thumb = rendered(samples.mpo())["thumb"]
    assert thumb.size == (160, 120)
    assert sum(thumb.getpixel((2, 2))) < 120


@pytest.mark.parametrize(
    "data", [samples.truncated_jpeg(), samples.corrupt_png()], ids=["truncated-jpeg", "corrupt-png"]
)
def test_corrupt_pixel_data_is_a_clear_failure(data: bytes) -> None:
    with pytest.raises(CorruptImage, match="cannot be decoded"):
        render(data, DEFAULT, max_pixels=50_000_000)


def test_too_many_pixels_fails_before_decoding() -> None:
    with pytest.raises(CorruptImage, match="limit"):
        render(samples.png_declaring(30_000, 30_000), DEFAULT, max_pixels=50_000_000)
