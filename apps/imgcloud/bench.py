"""``python -m imgcloud.bench``: time per image for every default variant, three ways.

Generates photo-like JPEGs (smooth gradients, edges and sensor-like noise, encoded at
quality 90) of 2 MP and 12 MP and times, on one core, decode + all variants + JPEG
encode with:

- ours: :func:`imgcloud.imaging.render` (draft decode, large-to-small cascade);
- ours + WebP, ours + WebP + AVIF: the same with the alternates the worker can write
  (IMGCLOUD_ALTERNATES): what each extra encode costs;
- naive Pillow: decode at full resolution, resize each variant from it;
- libvips: ``pyvips`` ``thumbnail_buffer`` per variant (shrink-on-load), one thread.

Prints milliseconds per image (median of the repeats; the methods take turns so load
from other processes hits all alike) as CPU time, the figure that decides throughput
on a busy machine, and as wall time, with each method's ratio to libvips and to ours
(JPEG only); then the bytes of every variant in each format, and each alternate's
share of the JPEG's: what the extra encodes buy.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import time
from collections.abc import Callable, Sequence

from PIL import Image, ImageDraw, ImageFilter

from imgcloud.config import DEFAULT_VARIANTS, Variant, parse_variants
from imgcloud.imaging import ALTERNATE_QUALITY, JPEG_QUALITY, available_alternates, fit, render

SIZES = {"2 MP": (1632, 1224), "12 MP": (4000, 3000)}


def photo_like(width: int, height: int, seed: int = 1) -> bytes:
    """A deterministic JPEG with the mix of smooth areas, edges and noise of a photo."""
    rng = random.Random(seed)
    coarse = Image.frombytes("RGB", (16, 12), rng.randbytes(16 * 12 * 3))
    image = coarse.resize((width, height), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(60):
        x, y = rng.randrange(width), rng.randrange(height)
        radius = rng.randrange(width // 60, width // 8)
        colour = tuple(rng.randrange(256) for _ in range(3))
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(2))
    grain = Image.effect_noise((width, height), 18).convert("RGB")
    image = Image.blend(image, grain, 0.12)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def ours(data: bytes, variants: Sequence[Variant]) -> None:
    render(data, variants, max_pixels=10**9)


def ours_with(*alternates: str) -> Callable[[bytes, Sequence[Variant]], None]:
    def method(data: bytes, variants: Sequence[Variant]) -> None:
        render(data, variants, max_pixels=10**9, alternates=alternates)

    return method


def naive_pillow(data: bytes, variants: Sequence[Variant]) -> None:
    image = Image.open(io.BytesIO(data))
    image.load()
    for variant in variants:
        resized = image.resize(fit(*image.size, variant.size), Image.Resampling.LANCZOS)
        resized.save(io.BytesIO(), "JPEG", quality=JPEG_QUALITY)


def libvips(data: bytes, variants: Sequence[Variant]) -> None:
    import pyvips

    for variant in variants:
        thumb = pyvips.Image.thumbnail_buffer(data, variant.size, height=variant.size)
        thumb.write_to_buffer(f".jpg[Q={JPEG_QUALITY}]")


METHODS: dict[str, Callable[[bytes, Sequence[Variant]], None]] = {
    "ours": ours,
    "ours + WebP": ours_with("WEBP"),
    **(
        {"ours + WebP + AVIF": ours_with("WEBP", "AVIF")}
        if "AVIF" in available_alternates()
        else {}
    ),
    "naive Pillow": naive_pillow,
    "libvips": libvips,
}


def time_ms(
    data: bytes, variants: Sequence[Variant], repeats: int
) -> dict[str, tuple[float, float]]:
    """Method -> (CPU ms, wall ms) per image, medians; methods take turns each round."""
    for method in METHODS.values():
        method(data, variants)  # warm-up: libraries loaded, caches filled
    cpu: dict[str, list[float]] = {name: [] for name in METHODS}
    wall: dict[str, list[float]] = {name: [] for name in METHODS}
    for _ in range(repeats):
        for name, method in METHODS.items():
            start_cpu, start_wall = time.process_time(), time.perf_counter()
            method(data, variants)
            cpu[name].append((time.process_time() - start_cpu) * 1000)
            wall[name].append((time.perf_counter() - start_wall) * 1000)
    return {name: (statistics.median(cpu[name]), statistics.median(wall[name])) for name in METHODS}


def run(repeats: int, variants: Sequence[Variant]) -> dict[str, dict[str, tuple[float, float]]]:
    return {
        label: time_ms(photo_like(width, height), variants, repeats)
        for label, (width, height) in SIZES.items()
    }


def table(results: dict[str, dict[str, tuple[float, float]]]) -> str:
    lines = [
        f"{'image':<7}{'method':<20}{'CPU ms/image':>13}{'vs libvips':>12}{'vs ours':>9}"
        f"{'wall ms/image':>15}{'vs libvips':>12}",
        "-" * 88,
    ]
    for label, timings in results.items():
        base_cpu, base_wall = timings["libvips"]
        ours_cpu = timings["ours"][0]
        for name, (cpu_ms, wall_ms) in timings.items():
            lines.append(
                f"{label:<7}{name:<20}{cpu_ms:>13.1f}{cpu_ms / base_cpu:>11.2f}x"
                f"{cpu_ms / ours_cpu:>8.2f}x{wall_ms:>15.1f}{wall_ms / base_wall:>11.2f}x"
            )
    return "\n".join(lines)


def bytes_table(variants: Sequence[Variant]) -> str:
    """Bytes of every variant of each photo, per format, and the alternates' shares."""
    alternates = available_alternates()
    lines = [
        f"{'image':<7}{'variant':<9}{'JPEG':>9}"
        + "".join(f"{fmt:>9}{'share':>7}" for fmt in alternates),
        "-" * (25 + 16 * len(alternates)),
    ]
    totals = {fmt: 0 for fmt in ("JPEG", *alternates)}
    for label, (width, height) in SIZES.items():
        data = photo_like(width, height)
        for r in render(data, variants, max_pixels=10**9, alternates=alternates):
            sizes = {a.content_type: len(a.data) for a in r.alternates}
            row = f"{label:<7}{r.name:<9}{len(r.data):>9}"
            totals["JPEG"] += len(r.data)
            for fmt in alternates:
                size = sizes[f"image/{fmt.lower()}"]
                totals[fmt] += size
                row += f"{size:>9}{size / len(r.data):>7.0%}"
            lines.append(row)
    lines.append(
        f"{'all':<16}{totals['JPEG']:>9}"
        + "".join(f"{totals[f]:>9}{totals[f] / totals['JPEG']:>7.0%}" for f in alternates)
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per cell")
    parser.add_argument("--variants", default=DEFAULT_VARIANTS, help="NAME=PIXELS,...")
    args = parser.parse_args(argv)
    # One core for everyone: Pillow is single-threaded, so libvips gets one thread too,
    # and its operation cache is off so each repeat really decodes.
    os.environ["VIPS_CONCURRENCY"] = "1"
    import pyvips

    pyvips.cache_set_max(0)
    pyvips.voperation  # noqa: B018 - imported for its side effect of loading libvips
    variants = parse_variants(args.variants)
    print(
        f"variants: {', '.join(f'{v.name}={v.size}' for v in variants)}; "
        f"median of {args.repeats} runs; JPEG quality {JPEG_QUALITY}; alternates' "
        f"qualities {ALTERNATE_QUALITY}; one core\n"
    )
    print(table(run(args.repeats, variants)))
    print(f"\nbytes per variant (alternates: {', '.join(available_alternates())})\n")
    print(bytes_table(variants))


if __name__ == "__main__":
    main()
