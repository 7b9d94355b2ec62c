"""Widths on demand: made once on first request, stored, served from S3 afterwards.

Through the stack's real backend, worker, RabbitMQ and MinIO, and, for the cluster's
case, a second backend process on the same bucket and broker: twenty requests at once,
split between two backends, make a width once; and, in this process, a maker that
loses the window between its look and its claim to another backend.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator

import httpx
import pytest
from apps_stack import Stack, finished, metric, upload
from imgcloud import config, naming
from imgcloud.bench import photo_like
from imgcloud.catalog import Catalog
from imgcloud.devstack import Service
from imgcloud.metrics import Metrics
from imgcloud.storage import Storage
from imgcloud.widths import WidthMaker
from PIL import Image

MADE = "imgcloud_widths_made_total"


@pytest.fixture
def photo(stack: Stack) -> Iterator[str]:
    """A fresh 1600x1200 upload, done (each test its own: a width is made once)."""
    with stack.client(timeout=30) as client:
        answer = upload(client, photo_like(1600, 1200, seed=9))
        assert answer.status_code == 202, answer.text
        image_id = answer.json()["id"]
        assert finished(client, image_id)["status"] == "done"
        yield image_id
        client.delete(f"/api/images/{image_id}")


def test_a_width_is_made_on_first_request_and_served_from_s3_after(
    api: httpx.Client, stack: Stack, photo: str
) -> None:
    before = metric(stack.backend.url, MADE)

    first = api.get(f"/api/images/{photo}/w960", headers={"Accept": "image/jpeg"})
    again = api.get(f"/api/images/{photo}/w960", headers={"Accept": "image/jpeg"})

    assert first.status_code == again.status_code == 200, first.text
    image = Image.open(io.BytesIO(first.content))
    assert (image.format, image.size) == ("JPEG", (960, 720))
    assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
    assert metric(stack.backend.url, MADE) - before == 1
    assert naming.variant_key(photo, "w960") in stack.keys(f"images/{photo}/")
    assert first.headers["vary"] == "Accept"


def test_a_browser_that_takes_webp_gets_the_width_in_webp(api: httpx.Client, photo: str) -> None:
    answer = api.get(f"/api/images/{photo}/w480", headers={"Accept": "image/webp,*/*"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "image/webp"
    assert Image.open(io.BytesIO(answer.content)).size == (480, 360)


def test_a_width_beyond_the_original_is_not_upscaled(api: httpx.Client, photo: str) -> None:
    answer = api.get(f"/api/images/{photo}/w1920", headers={"Accept": "image/jpeg"})
    assert answer.status_code == 200, answer.text
    assert Image.open(io.BytesIO(answer.content)).size == (1600, 1200)


@pytest.mark.parametrize("name", ["w1000", "w0", "w99999"])
def test_a_width_outside_the_list_is_404_naming_the_list(
    api: httpx.Client, photo: str, name: str
) -> None:
    answer = api.get(f"/api/images/{photo}/{name}")
    assert answer.status_code == 404
    assert "widths: w320, w480, w960, w1920" in answer.json()["error"]


def test_twenty_requests_at_once_over_two_backends_make_it_once(
    stack: Stack, second_backend: Service, photo: str
) -> None:
    urls = [stack.backend.url, second_backend.url]
    before = sum(metric(url, MADE) for url in urls)

    async def storm() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60, headers=stack.auth) as client:
            return await asyncio.gather(
                *(
                    client.get(
                        f"{urls[n % 2]}/api/images/{photo}/w320", headers={"Accept": "image/jpeg"}
                    )
                    for n in range(20)
                )
            )

    answers = asyncio.run(storm())

    assert [a.status_code for a in answers] == [200] * 20, [a.text for a in answers][:3]
    assert len({a.content for a in answers}) == 1, "the twenty got different bytes"
    assert sum(metric(url, MADE) for url in urls) - before == 1
    assert naming.variant_key(photo, "w320.making") not in stack.keys(f"images/{photo}/")


def test_a_width_of_a_pending_or_missing_image_is_404(api: httpx.Client) -> None:
    answer = api.get("/api/images/0000000000000000000ff/w320")
    assert answer.status_code == 404
    assert "no image" in answer.json()["error"]


def test_a_width_of_an_animated_gif_is_animated(api: httpx.Client) -> None:
    colours = [(220, 30, 30), (30, 200, 30), (30, 30, 220)]
    frames = [Image.new("RGB", (1200, 900), colour) for colour in colours]
    data = io.BytesIO()
    frames[0].save(data, "GIF", save_all=True, append_images=frames[1:], duration=[100, 250, 400])
    answer = upload(api, data.getvalue(), "moving.gif", "image/gif")
    assert answer.status_code == 202, answer.text
    image_id = answer.json()["id"]
    assert finished(api, image_id)["status"] == "done"

    width = api.get(f"/api/images/{image_id}/w480", headers={"Accept": "image/gif"})

    assert width.status_code == 200, width.text
    image = Image.open(io.BytesIO(width.content))
    assert (image.format, image.size, image.n_frames) == ("GIF", (480, 360), 3)


def test_a_width_made_by_another_between_look_and_claim_is_not_made_again(
    stack: Stack, api: httpx.Client, photo: str
) -> None:
    """The window across backends: this maker looked (no width), then, just before it
    writes its claim, the real backend makes the width and drops its own claim."""
    settings = config.load("backend", stack.env)
    metrics = Metrics("backend")
    maker = WidthMaker(settings, Catalog(Storage(settings)), metrics)
    storage = maker.catalog.storage
    made_elsewhere: list[int] = []
    claim_once = storage.put_if_absent

    async def made_first_then_claim(key: str, data: bytes, content_type: str) -> bool:
        if not made_elsewhere:
            answer = await asyncio.to_thread(
                api.get, f"/api/images/{photo}/w320", headers={"Accept": "image/jpeg"}
            )
            made_elsewhere.append(answer.status_code)
        return await claim_once(key, data, content_type)

    storage.put_if_absent = made_first_then_claim  # type: ignore[method-assign]

    async def ask() -> None:
        manifest = await maker.catalog.manifest(photo)
        assert manifest is not None
        await maker._claim_and_make(manifest, 320)  # as ensure() does after its look

    asyncio.run(ask())

    assert made_elsewhere == [200], "the other backend did not make it in the window"
    assert metrics.registry.get_sample_value(MADE) == 0, "made again over the other backend's width"
    assert naming.variant_key(photo, "w320.making") not in stack.keys(f"images/{photo}/")
