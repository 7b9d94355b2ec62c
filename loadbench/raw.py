"""Raw worker speed: the apps' resize pipeline on the bench's photos, in this process.

No HTTP, no broker, no S3: what one core does when it only resizes. The cluster's
throughput is compared to this times the cores the cluster can use.

Speed is measured in CPU seconds of this thread per image, not wall seconds: on a
machine shared with the lab (and other people's tests) the wall clock also counts the
time other processes held the core, and would make one core look slower than it is.
Both are reported.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass

from imgcloud.config import DEFAULT_MAX_PIXELS, DEFAULT_VARIANTS, parse_variants
from imgcloud.imaging import render

from loadbench import images


@dataclass(frozen=True)
class Timing:
    """Median CPU and wall seconds of one render."""

    cpu_s: float
    wall_s: float


@dataclass(frozen=True)
class RawSpeed:
    """Seconds per image for each size class and the mix-weighted speed of one core."""

    per_label: dict[str, Timing]
    mix: dict[str, int]
    repeats: int

    def _mean(self, attr: str) -> float:
        total = sum(self.mix[label] for label in self.per_label)
        weighted = sum(getattr(t, attr) * self.mix[label] for label, t in self.per_label.items())
        return weighted / total

    @property
    def images_per_s_per_core(self) -> float:
        return 1.0 / self._mean("cpu_s")

    @property
    def wall_images_per_s(self) -> float:
        return 1.0 / self._mean("wall_s")

    def as_json(self) -> dict[str, object]:
        return {
            "images_per_s_per_core": round(self.images_per_s_per_core, 3),
            "cpu_ms_per_image": {k: round(t.cpu_s * 1000, 1) for k, t in self.per_label.items()},
            "wall_ms_per_image": {k: round(t.wall_s * 1000, 1) for k, t in self.per_label.items()},
            "wall_images_per_s": round(self.wall_images_per_s, 3),
            "mix": self.mix,
            "repeats": self.repeats,
            "method": (
                "imgcloud.imaging.render (decode once, every variant, encode) on the bench's "
                "photos in one thread; median CPU seconds of the thread per photo, weighted "
                "by the upload mix"
            ),
        }


def time_render(data: bytes, repeats: int) -> Timing:
    """Median CPU and wall seconds of one `render` of `data` (all variants), after a warm-up."""
    variants = parse_variants(os.environ.get("IMGCLOUD_VARIANTS") or DEFAULT_VARIANTS)
    render(data, variants, max_pixels=DEFAULT_MAX_PIXELS)
    cpu, wall = [], []
    for _ in range(repeats):
        cpu_start, wall_start = time.thread_time(), time.perf_counter()
        render(data, variants, max_pixels=DEFAULT_MAX_PIXELS)
        cpu.append(time.thread_time() - cpu_start)
        wall.append(time.perf_counter() - wall_start)
    return Timing(statistics.median(cpu), statistics.median(wall))


def measure(mix: dict[str, int], repeats: int = 5, variety: int = 3) -> RawSpeed:
    """Time the pipeline on the same photos Locust uploads, weighted like its upload mix."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, not {repeats}")
    per_label: dict[str, Timing] = {}
    for label, weight in mix.items():
        if weight:
            timings = [time_render(images.photo(label, s).data, repeats) for s in range(variety)]
            per_label[label] = Timing(
                statistics.mean(t.cpu_s for t in timings),
                statistics.mean(t.wall_s for t in timings),
            )
    if not per_label:
        raise ValueError("the photo mix is empty: give at least one size a positive weight")
    return RawSpeed(per_label, dict(mix), repeats)
