"""The resize pipeline on real encoded images: sizes, orientation, modes, alpha, frames."""

from __future__ import annotations

import io

import apps_samples as samples
import pytest
from imgcloud.config import Variant, parse_variants
from imgcloud.imaging import CorruptImage, fit, render, render_width
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


def test_an_animation_beyond_the_frame_limit_gives_its_first_frame() -> None:
    frames = [Image.new("RGB", (200, 100), colour) for colour in ("red", "blue", "green")]
    data = samples.encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    out = render(data, DEFAULT, max_pixels=50_000_000, max_frames=2)
    thumb = Image.open(io.BytesIO(out[-1].data))
    assert getattr(thumb, "n_frames", 1) == 1
    red, _green, blue = thumb.convert("RGB").getpixel((50, 50))
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


def _exif_and_icc_jpeg() -> bytes:
    """A JPEG carrying EXIF (camera, GPS-like text) and an sRGB profile, as cameras write."""
    from PIL import ImageCms

    image = samples.gradient(800, 600)
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"  # Make
    exif[0x9286] = "where I live"  # UserComment: what metadata stripping is for
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return samples.encode(image, "JPEG", quality=92, exif=exif.tobytes(), icc_profile=icc)


def test_variants_carry_no_metadata_and_are_progressive_jpegs() -> None:
    for image in rendered(_exif_and_icc_jpeg()).values():
        assert image.format == "JPEG"
        assert not image.getexif(), "EXIF copied into a variant"
        assert "icc_profile" not in image.info, "a colour profile left: variants are sRGB"
        assert image.info.get("progressive") or image.info.get("progression")


def test_a_profiled_image_is_converted_to_srgb() -> None:
    """An image tagged with a profile whose red is sRGB's green: the variant's pixel is
    green, as the profile says (and as LittleCMS converts it), not the red of the
    numbers; the profile itself is gone."""
    from PIL import ImageCms

    image = Image.new("RGB", (64, 48), (200, 40, 40))
    profile = samples.rgb_profile(*samples.SWAPPED_RED_GREEN)
    data = samples.encode(image, "PNG", icc_profile=profile)
    expected = ImageCms.profileToProfile(
        image, ImageCms.ImageCmsProfile(io.BytesIO(profile)), ImageCms.createProfile("sRGB")
    )
    assert expected is not None

    thumb = rendered(data, parse_variants("thumb=64"))["thumb"]

    red, green, _ = got = thumb.convert("RGB").getpixel((32, 24))
    assert green > red, f"{got}: the profile was ignored"
    assert all(abs(a - b) <= 2 for a, b in zip(got, expected.getpixel((32, 24)), strict=True))
    assert "icc_profile" not in thumb.info


@pytest.mark.parametrize("alternates", [("WEBP",), ("WEBP", "AVIF")])
def test_each_variant_comes_in_every_alternate_format_with_the_same_size(
    alternates: tuple[str, ...],
) -> None:
    from imgcloud.imaging import available_alternates

    missing = set(alternates) - set(available_alternates())
    assert not missing, f"this Pillow cannot encode {missing}: the lane's image must have it"
    out = render(
        samples.encode(samples.gradient(800, 600), "JPEG"),
        DEFAULT,
        max_pixels=50_000_000,
        alternates=alternates,
    )
    for r in out:
        kinds = [a.content_type for a in r.alternates]
        assert kinds == [f"image/{fmt.lower()}" for fmt in alternates]
        for a in r.alternates:
            image = Image.open(io.BytesIO(a.data))
            assert Image.MIME[image.format] == a.content_type
            assert image.size == (r.width, r.height)


def test_a_webp_source_with_alpha_gets_no_second_webp() -> None:
    translucent = samples.gradient(320, 240, "RGBA")
    translucent.putalpha(128)
    data = samples.encode(translucent, "WEBP")
    out = render(data, DEFAULT, max_pixels=50_000_000, alternates=("WEBP",))
    assert all(r.content_type == "image/webp" and r.alternates == () for r in out)


@pytest.mark.parametrize(("width", "height"), [(4000, 3000), (3000, 4000), (1600, 900), (500, 90)])
def test_a_cover_variant_is_a_square_cut_from_the_centre(width: int, height: int) -> None:
    """Left half red, right half blue, a green bar in the middle third: the centred
    square shows the bar in its middle and both halves at its sides (landscape)."""
    from PIL import ImageDraw

    image = Image.new("RGB", (width, height), (220, 20, 20))
    draw = ImageDraw.Draw(image)
    draw.rectangle((width // 2, 0, width, height), fill=(20, 20, 220))
    draw.rectangle(
        (width * 4 // 9, height * 4 // 9, width * 5 // 9, height * 5 // 9), fill=(20, 200, 20)
    )
    data = samples.encode(image, "JPEG", quality=95)

    variants = parse_variants("thumb=160:cover,medium=640,large=1280")
    out = rendered(data, variants)
    thumb = out["thumb"].convert("RGB")

    side = min(160, width, height)
    assert thumb.size == (side, side)
    assert out["medium"].size == fit(width, height, 640), "the next variants are uncropped"
    r, g, b = thumb.getpixel((side // 2, side // 2))
    assert g > 150 and r < 80 and b < 80, "the centre is not the image's centre"


def test_an_entropy_cover_goes_where_the_detail_is() -> None:
    """A flat grey strip with a detailed patch at its right end: the centred square
    shows flat grey, the entropy square the patch."""
    image = Image.new("L", (1200, 300), 128)
    patch = Image.effect_noise((300, 300), 60)
    image.paste(patch, (900, 0))
    data = samples.encode(image.convert("RGB"), "PNG")

    centred = rendered(data, parse_variants("t=150:cover"))["t"]
    detailed = rendered(data, parse_variants("t=150:entropy"))["t"]

    assert centred.size == detailed.size == (150, 150)
    assert centred.convert("L").entropy() < 1.0
    assert detailed.convert("L").entropy() > 4.0


def test_a_cover_variant_as_the_largest_is_cut_from_enough_pixels() -> None:
    """A lone cover variant of a big JPEG: the draft decode must keep the short side
    (1000 px here), not decode at a quarter and blow it up. Bars 4 px wide stay crisp
    at 0.8x (grey spread ~113); upscaled from a quarter they come out soft (~89)."""
    from PIL import ImageDraw, ImageStat

    image = Image.new("L", (4000, 1000), 0)
    draw = ImageDraw.Draw(image)
    for x in range(0, 4000, 8):
        draw.rectangle((x, 0, x + 3, 1000), fill=255)
    data = samples.encode(image.convert("RGB"), "JPEG", quality=95)

    square = rendered(data, parse_variants("square=800:cover"))["square"]

    assert square.size == (800, 800)
    spread = ImageStat.Stat(square.convert("L")).stddev[0]
    assert spread > 101, f"soft bars (stddev {spread:.0f}): cut from too few pixels"


COLOURS = ((220, 30, 30), (30, 30, 220), (30, 200, 30))
DURATIONS = [100, 250, 400]


def _frames(image: Image.Image) -> list[tuple[tuple[int, ...], int]]:
    from PIL import ImageSequence

    return [
        (
            frame.convert("RGB").getpixel((image.width // 2, image.height // 2)),
            frame.info["duration"],
        )
        for frame in ImageSequence.Iterator(image)
    ]


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_an_animation_keeps_its_frames_and_timings_in_every_variant(fmt: str) -> None:
    frames = [Image.new("RGB", (400, 300), colour) for colour in COLOURS]
    data = samples.encode(
        frames[0], fmt, save_all=True, append_images=frames[1:], duration=DURATIONS, loop=0
    )

    out = render(data, DEFAULT, max_pixels=50_000_000, max_frames=10, alternates=("WEBP",))

    for r in out:
        encodings = [(r.content_type, r.data), *((a.content_type, a.data) for a in r.alternates)]
        assert [kind for kind, _ in encodings] == (
            ["image/gif", "image/webp"] if fmt == "GIF" else ["image/webp"]
        )
        for kind, encoded in encodings:
            image = Image.open(io.BytesIO(encoded))
            assert image.n_frames == 3, (r.name, kind)
            assert image.size == (r.width, r.height)
            seen = _frames(image)
            assert [d for _, d in seen] == DURATIONS, (r.name, kind, seen)
            for (pixel, _), colour in zip(seen, COLOURS, strict=True):
                assert all(abs(a - b) <= 24 for a, b in zip(pixel, colour, strict=True)), (
                    r.name,
                    kind,
                    pixel,
                    colour,
                )
    assert {r.name: (r.width, r.height) for r in out}["thumb"] == (160, 120)


def test_a_width_of_an_animation_keeps_its_frames_and_timings() -> None:
    frames = [Image.new("RGB", (800, 600), colour) for colour in COLOURS]
    data = samples.encode(
        frames[0], "GIF", save_all=True, append_images=frames[1:], duration=DURATIONS, loop=0
    )
    made = render_width(data, 320, max_pixels=50_000_000, max_frames=10, alternates=("WEBP",))
    assert (made.width, made.height, made.content_type) == (320, 240, "image/gif")
    for encoded in (made.data, made.alternates[0].data):
        image = Image.open(io.BytesIO(encoded))
        assert (image.n_frames, image.size) == (3, (320, 240))
        assert [d for _, d in _frames(image)] == DURATIONS
    still = render_width(data, 320, max_pixels=50_000_000, max_frames=1)
    assert getattr(Image.open(io.BytesIO(still.data)), "n_frames", 1) == 1


def test_an_animation_of_too_many_pixels_in_all_gives_its_first_frame() -> None:
    """Small frames, many of them: the pixel budget counts every frame (a frame bomb)."""
    frames = [Image.new("RGB", (400, 300), COLOURS[n % 3]) for n in range(6)]
    data = samples.encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    out = render(data, DEFAULT, max_pixels=400 * 300 * 5, max_frames=100)
    assert all(getattr(Image.open(io.BytesIO(r.data)), "n_frames", 1) == 1 for r in out)
