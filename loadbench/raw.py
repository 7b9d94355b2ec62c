"""Raw worker speed: the apps' resize pipeline on the bench's photos, in this process.

No HTTP, no broker, no S3: what one core does when it only resizes. The cluster's
throughput is compared to this times the cores the cluster can use.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import asdict, dataclass

from imgcloud.config import parse_variants
from imgcloud.imaging import render

from loadbench import images

DEFAULT_VARIANTS = "thumb=160,medium=640,large=1280"
MAX_PIXELS = 50_000_000


@dataclass(frozen=True)
class RawSpeed:
    """Median seconds per image for each size class and the mix-weighted speed of one core."""

    seconds_per_image: dict[str, float]
    mix: dict[str, int]
    repeats: int
    images_per_s_per_core: float

    def as_json(self) -> dict[str, object]:
        data = asdict(self)
        data["ms_per_image"] = {k: round(v * 1000, 1) for k, v in self.seconds_per_image.items()}
        del data["seconds_per_image"]
        data["images_per_s_per_core"] = round(self.images_per_s_per_core, 3)
        data["method"] = (
            "imgcloud.imaging.render (decode once, every variant, encode) on the bench's "
            "photos, one thread, median of the repeats per photo"
        )
        return data


def time_render(data: bytes, repeats: int) -> float:
    """Median wall seconds of one `render` of `data` (all variants), after one warm-up."""
    variants = parse_variants(os.environ.get("IMGCLOUD_VARIANTS") or DEFAULT_VARIANTS)
    render(data, variants, max_pixels=MAX_PIXELS)
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        render(data, variants, max_pixels=MAX_PIXELS)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def measure(mix: dict[str, int], repeats: int = 5, variety: int = 3) -> RawSpeed:
    """Time the pipeline on the same photos Locust uploads, weighted like its upload mix."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, not {repeats}")
    per_label: dict[str, float] = {}
    for label, weight in mix.items():
        if weight:
            photos = [images.photo(label, seed) for seed in range(variety)]
            per_label[label] = statistics.mean(time_render(p.data, repeats) for p in photos)
    if not per_label:
        raise ValueError("the photo mix is empty: give at least one size a positive weight")
    total = sum(mix[label] for label in per_label)
    mean_seconds = sum(per_label[label] * mix[label] for label in per_label) / total
    return RawSpeed(per_label, dict(mix), repeats, 1.0 / mean_seconds)
