"""Choose the alternates' qualities by measurement: SSIM of each format against the variant.

For each of the bench's photo-like images (imgcloud.bench.photo_like and loadbench's
generated photos) at every default variant size, the resized image before encoding is
the reference. The JPEG at JPEG_QUALITY (progressive, as the worker writes it) sets the
bar: its SSIM and its bytes. For WebP and AVIF at each candidate quality it prints the
mean SSIM, the worst image's SSIM less the JPEG's, and the bytes as a share of the
JPEG's, and names the lowest quality whose mean SSIM is at least the JPEG's: the figure
imaging.ALTERNATE_QUALITY keeps. (At least the JPEG's on every image is a bar the
photos' sensor grain keeps out of WebP's reach below quality 90: its encoder smooths
grain, which SSIM counts as lost structure.)

Each format is encoded as the worker does (progressive JPEG, WebP at WEBP_METHOD, AVIF
at AVIF_SPEED). SSIM here is the usual one on luma (BT.601), 7x7 uniform windows,
K1 0.01, K2 0.03: a measure of structure, the thing lossy encoders trade away, not a
perceptual model.

    python tools/alternate_quality.py [--formats WEBP,AVIF] [--qualities 50,60,70,80,90]
                                      [--webp-method 0-6]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
from collections.abc import Sequence

import numpy as np
from imgcloud.bench import photo_like
from imgcloud.config import DEFAULT_VARIANTS, parse_variants
from imgcloud.imaging import AVIF_SPEED, JPEG_QUALITY, WEBP_METHOD, fit
from PIL import Image

WINDOW = 7


def luma(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"), dtype=np.float64)


def _mean_filter(values: np.ndarray) -> np.ndarray:
    """The mean over every WINDOW x WINDOW window (valid positions only)."""
    summed = values.cumsum(0).cumsum(1)
    summed = np.pad(summed, ((1, 0), (1, 0)))
    w = WINDOW
    total = summed[w:, w:] - summed[:-w, w:] - summed[w:, :-w] + summed[:-w, :-w]
    return total / (w * w)


def ssim(reference: np.ndarray, other: np.ndarray) -> float:
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_x, mu_y = _mean_filter(reference), _mean_filter(other)
    var_x = _mean_filter(reference * reference) - mu_x**2
    var_y = _mean_filter(other * other) - mu_y**2
    cov = _mean_filter(reference * other) - mu_x * mu_y
    index = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    )
    return float(index.mean())


WEBP_METHOD_IN_USE = [WEBP_METHOD]  # --webp-method replaces it, to compare methods


def encoded(image: Image.Image, fmt: str, quality: int) -> bytes:
    buffer = io.BytesIO()
    options: dict[str, object] = {"quality": quality}
    if fmt == "JPEG":
        options.update(progressive=True, optimize=True)
    if fmt == "AVIF":
        options["speed"] = AVIF_SPEED
    if fmt == "WEBP":
        options["method"] = WEBP_METHOD_IN_USE[0]
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def references() -> list[tuple[str, Image.Image]]:
    """The resized variants of every photo: what the encoders are judged against."""
    sizes = (((1632, 1224), 1), ((1632, 1224), 2), ((4000, 3000), 3))
    photos = [(f"bench {w}x{h}", photo_like(w, h, seed)) for (w, h), seed in sizes]
    try:
        from loadbench.images import photo

        photos += [(f"loadbench 2mp #{seed}", photo("2mp", seed).data) for seed in range(3)]
    except ImportError:  # the load extras are not installed: the bench's photos only
        pass
    out = []
    for label, data in photos:
        full = Image.open(io.BytesIO(data)).convert("RGB")
        for variant in parse_variants(DEFAULT_VARIANTS):
            size = fit(*full.size, variant.size)
            out.append((f"{label} {variant.name}", full.resize(size, Image.Resampling.LANCZOS)))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--formats", default="WEBP,AVIF")
    parser.add_argument("--qualities", default="50,55,60,65,70,75,80,85,90")
    parser.add_argument("--webp-method", type=int, default=WEBP_METHOD)
    args = parser.parse_args(argv)
    WEBP_METHOD_IN_USE[0] = args.webp_method
    qualities = [int(q) for q in args.qualities.split(",")]
    images = references()
    bar = [
        (
            ssim(luma(im), luma(Image.open(io.BytesIO(encoded(im, "JPEG", JPEG_QUALITY))))),
            len(encoded(im, "JPEG", JPEG_QUALITY)),
        )
        for _, im in images
    ]
    print(
        f"{len(images)} variants of {len(images) // 3} photos; JPEG q{JPEG_QUALITY} "
        f"(progressive): mean SSIM {statistics.mean(s for s, _ in bar):.4f}, "
        f"{sum(b for _, b in bar)} bytes in all\n"
    )
    print(f"{'format':<7}{'quality':>8}{'mean SSIM':>11}{'worst vs JPEG':>15}{'bytes vs JPEG':>15}")
    for fmt in args.formats.split(","):
        chosen = None
        for quality in qualities:
            scores, sizes = [], []
            for (_, image), _bar in zip(images, bar, strict=True):
                data = encoded(image, fmt, quality)
                scores.append(ssim(luma(image), luma(Image.open(io.BytesIO(data)))))
                sizes.append(len(data))
            worst = min(s - b for s, (b, _) in zip(scores, bar, strict=True))
            share = sum(sizes) / sum(b for _, b in bar)
            mean_bar = statistics.mean(b for b, _ in bar)
            print(
                f"{fmt:<7}{quality:>8}{statistics.mean(scores):>11.4f}{worst:>+15.4f}{share:>14.0%}"
            )
            if chosen is None and statistics.mean(scores) >= mean_bar:
                chosen = (quality, share)
        if chosen:
            print(f"  -> {fmt}: quality {chosen[0]}, {chosen[1]:.0%} of the JPEG's bytes\n")
        else:
            print(f"  -> {fmt}: no quality tried reaches the JPEG's mean SSIM\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
