"""Photo-like JPEGs of realistic sizes, generated and cached by seed.

Real photos are smooth colour fields with edges, texture and sensor grain; random noise
alone compresses badly and flat colour compresses too well, both unlike a camera's file.
The same seed always gives the same bytes, so Locust and the raw-speed bench resize the
same images.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

# Landscape sizes; odd seeds give the portrait orientation of the same size.
SIZES: dict[str, tuple[int, int]] = {
    "2mp": (1632, 1224),
    "12mp": (4000, 3000),
}
JPEG_QUALITY = 90


@dataclass(frozen=True)
class Photo:
    """One generated photo: its label (size class), seed, pixel size and JPEG bytes."""

    label: str
    seed: int
    size: tuple[int, int]
    data: bytes

    @property
    def filename(self) -> str:
        return f"load-{self.label}-{self.seed}.jpg"

    @property
    def megapixels(self) -> float:
        return self.size[0] * self.size[1] / 1e6


def cache_dir() -> Path:
    """Where generated photos are kept between runs (outside the checkout)."""
    base = os.environ.get("IMGCLOUD_LOAD_CACHE")
    if base:
        return Path(base)
    return Path.home() / ".cache" / "imgcloud" / "load-images"


def photo(label: str, seed: int) -> Photo:
    """The photo of size class `label` ("2mp", "12mp") for `seed`, from cache or generated."""
    if label not in SIZES:
        raise ValueError(f"unknown photo size {label!r}; choose one of {sorted(SIZES)}")
    width, height = SIZES[label]
    if seed % 2:
        width, height = height, width
    path = cache_dir() / f"{label}-{seed}.jpg"
    if path.is_file():
        return Photo(label, seed, (width, height), path.read_bytes())
    data = render_jpeg((width, height), seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return Photo(label, seed, (width, height), data)


def pool(labels: dict[str, int], variety: int = 3) -> list[Photo]:
    """`variety` distinct photos per label, each repeated by its weight in `labels`.

    Picking uniformly from the result gives the requested mix, e.g. {"2mp": 3, "12mp": 1}.
    """
    photos: list[Photo] = []
    for label, weight in labels.items():
        if weight < 0:
            raise ValueError(f"weight of {label!r} must be >= 0, not {weight}")
        distinct = [photo(label, seed) for seed in range(variety)] if weight else []
        photos.extend(distinct * weight)
    if not photos:
        raise ValueError("the photo mix is empty: give at least one size a positive weight")
    return photos


def render_jpeg(size: tuple[int, int], seed: int) -> bytes:
    """Render a photo-like image of `size` and encode it as a baseline JPEG."""
    image = _render(size, np.random.default_rng(seed))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=JPEG_QUALITY, subsampling="4:2:0", optimize=True)
    return buffer.getvalue()


def _render(size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    width, height = size
    # Broad colour fields (sky, ground, walls): a few random pixels blown up smoothly.
    base = _upscaled_noise(rng, (4, 3), size, spread=90.0, centre=rng.uniform(60, 190, 3))
    # Objects with edges, softened like a lens does.
    draw = ImageDraw.Draw(base)
    for _ in range(int(rng.integers(12, 24))):
        x0, y0 = rng.uniform(0, width), rng.uniform(0, height)
        w, h = rng.uniform(0.03, 0.3) * width, rng.uniform(0.03, 0.3) * height
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        box = (x0, y0, x0 + w, y0 + h)
        if rng.random() < 0.5:
            draw.ellipse(box, fill=colour)
        else:
            draw.rectangle(box, fill=colour)
    base = base.filter(ImageFilter.GaussianBlur(radius=max(width, height) / 1500))
    # Texture (foliage, fabric) and sensor grain: what makes a JPEG photo megabytes big.
    texture = _upscaled_noise(rng, (width // 8, height // 8), size, spread=14.0, centre=0.0)
    pixels = np.asarray(base, dtype=np.int16) + np.asarray(texture, dtype=np.int16) - 128
    pixels += rng.normal(0.0, 3.0, (height, width, 1)).astype(np.int16)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def _upscaled_noise(
    rng: np.random.Generator,
    small: tuple[int, int],
    size: tuple[int, int],
    spread: float,
    centre: float | np.ndarray,
) -> Image.Image:
    """Gaussian noise of `small` pixels resized smoothly to `size`, centred on `centre`.

    A zero centre is stored offset by 128 so the image stays unsigned.
    """
    w, h = max(small[0], 2), max(small[1], 2)
    offset = 128.0 if np.isscalar(centre) and centre == 0.0 else 0.0
    values = rng.normal(0.0, spread, (h, w, 3)) + centre + offset
    tiny = Image.fromarray(np.clip(values, 0, 255).astype(np.uint8), "RGB")
    return tiny.resize(size, Image.Resampling.BICUBIC)
