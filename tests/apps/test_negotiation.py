"""Variants in WebP for the clients that take it, JPEG for the others, and caches told.

Through the real backend, worker, RabbitMQ and MinIO of the stack: a photo-like upload
(the bench's generator: smooth areas, edges, grain) is resized once; its variants are
asked for with the ``Accept`` headers real clients send.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import pytest
from apps_stack import Stack, finished, upload
from imgcloud.bench import photo_like
from PIL import Image

CHROMIUM_IMG_ACCEPT = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
VARIANTS = ("thumb", "medium", "large")


@pytest.fixture(scope="module")
def uploaded() -> bytes:
    return photo_like(1600, 1200, seed=7)  # its grain is random: the same call differs


@pytest.fixture(scope="module")
def photo(stack: Stack, uploaded: bytes) -> Iterator[str]:
    with stack.client(timeout=30) as client:
        answer = upload(client, uploaded)
        assert answer.status_code == 202, answer.text
        image_id = answer.json()["id"]
        assert finished(client, image_id)["status"] == "done"
        yield image_id
        client.delete(f"/api/images/{image_id}")


def fetch(api: httpx.Client, image_id: str, variant: str, accept: str | None) -> httpx.Response:
    headers = {} if accept is None else {"Accept": accept}
    answer = api.get(f"/api/images/{image_id}/{variant}", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_browser_that_takes_webp_gets_webp_smaller_than_the_jpeg(
    api: httpx.Client, photo: str, variant: str
) -> None:
    webp = fetch(api, photo, variant, CHROMIUM_IMG_ACCEPT)
    jpeg = fetch(api, photo, variant, "image/jpeg")

    assert webp.headers["content-type"] == "image/webp"
    assert webp.headers["vary"] == "Accept"
    assert Image.open(io.BytesIO(webp.content)).format == "WEBP"
    assert Image.open(io.BytesIO(webp.content)).size == Image.open(io.BytesIO(jpeg.content)).size
    assert len(webp.content) < len(jpeg.content), (len(webp.content), len(jpeg.content))
    assert webp.headers["etag"] != jpeg.headers["etag"]


@pytest.mark.parametrize(
    "accept",
    [None, "*/*", "image/*", "image/jpeg", "image/webp;q=0, image/jpeg", "image/webp;q=zero"],
)
def test_a_client_that_does_not_name_webp_gets_the_jpeg(
    api: httpx.Client, photo: str, accept: str | None
) -> None:
    answer = fetch(api, photo, "medium", accept)

    assert answer.headers["content-type"] == "image/jpeg"
    assert answer.headers["vary"] == "Accept"
    image = Image.open(io.BytesIO(answer.content))
    assert image.format == "JPEG"
    assert image.info.get("progressive") or image.info.get("progression"), "not progressive"
    assert "exif" not in image.info and "icc_profile" not in image.info


def test_the_original_is_the_upload_whatever_the_accept(
    api: httpx.Client, photo: str, uploaded: bytes
) -> None:
    answer = fetch(api, photo, "original", CHROMIUM_IMG_ACCEPT)

    assert answer.headers["content-type"] == "image/jpeg"
    assert "vary" not in answer.headers
    assert answer.content == uploaded


def test_the_view_gives_each_variant_s_alternates_and_the_worker_says_what_it_encodes(
    api: httpx.Client, photo: str, stack: Stack
) -> None:
    sizes = api.get(f"/api/images/{photo}").json()["sizes"]
    ready = httpx.get(f"{stack.worker.url}/readyz", timeout=10).json()

    for variant in VARIANTS:
        alternates = sizes[variant]["alternates"]
        assert set(alternates) == {"image/webp"}
        assert 0 < alternates["image/webp"] < sizes[variant]["bytes"]
    assert sizes["original"]["alternates"] == {}
    assert ready["encodes"] == ["image/jpeg", "image/png", "image/webp"]


def test_a_304_and_a_missing_variant_also_say_vary(api: httpx.Client, photo: str) -> None:
    first = fetch(api, photo, "thumb", CHROMIUM_IMG_ACCEPT)
    again = api.get(
        f"/api/images/{photo}/thumb",
        headers={"Accept": CHROMIUM_IMG_ACCEPT, "If-None-Match": first.headers["etag"]},
    )

    assert again.status_code == 304
    assert again.headers["vary"] == "Accept"
