"""The generated photos: the sizes asked for, the same bytes for the same seed."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from loadbench import images


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMGCLOUD_LOAD_CACHE", str(tmp_path))


@pytest.mark.parametrize(("seed", "size"), [(0, (1632, 1224)), (1, (1224, 1632))])
def test_photo_has_the_size_of_its_class(seed: int, size: tuple[int, int]) -> None:
    with Image.open(io.BytesIO(images.photo("2mp", seed).data)) as image:
        assert (image.format, image.size) == ("JPEG", size)


def test_photo_is_megabyte_class_like_a_camera_file() -> None:
    assert 200_000 < len(images.photo("2mp", 0).data) < 2_000_000


def test_same_seed_gives_the_same_bytes() -> None:
    assert images.render_jpeg((320, 240), 7) == images.render_jpeg((320, 240), 7)


def test_cached_photo_is_read_back(tmp_path: Path) -> None:
    first = images.photo("2mp", 0)
    assert (tmp_path / "2mp-0.jpg").read_bytes() == first.data == images.photo("2mp", 0).data


def test_pool_repeats_photos_by_weight() -> None:
    pool = images.pool({"2mp": 2, "12mp": 0}, variety=1)
    assert [p.label for p in pool] == ["2mp", "2mp"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: images.photo("5mp", 0), "unknown photo size"),
        (lambda: images.pool({"2mp": 0}), "empty"),
        (lambda: images.pool({"2mp": -1}), ">= 0"),
    ],
)
def test_bad_photo_requests_say_why(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
