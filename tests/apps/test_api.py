"""The HTTP API against a real RabbitMQ and MinIO: upload, read side, delete, bad input."""

from __future__ import annotations

import apps_samples as samples
import httpx
import pytest
from apps_stack import Stack, finished, upload

VARIANTS = {"original", "thumb", "medium", "large"}


@pytest.mark.parametrize("name", sorted(samples.ACCEPTED))
def test_each_accepted_format_ends_done_with_every_variant(api: httpx.Client, name: str) -> None:
    answer = upload(api, samples.ACCEPTED[name](), f"sample.{name}", "application/octet-stream")
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "pending"
    view = finished(api, answer.json()["id"])
    assert view["status"] == "done", view
    assert set(view["variants"]) == VARIANTS
    thumb = view["sizes"]["thumb"]
    assert thumb == {
        "width": 160,
        "height": 160,  # a square cut from the centre (thumb=160:cover)
        "bytes": thumb["bytes"],
        "content_type": "image/jpeg",
        "alternates": {"image/webp": thumb["alternates"]["image/webp"]},
    }
    original = api.get(view["variants"]["original"])
    assert original.headers["content-type"] == samples.CONTENT_TYPES[name]
    assert original.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("variant", ["thumb", "medium", "large", "original"])
def test_variant_bytes_carry_type_nosniff_and_caching(api: httpx.Client, variant: str) -> None:
    image_id = upload(api, samples.encode(samples.gradient(1600, 1200), "JPEG")).json()["id"]
    view = finished(api, image_id)
    answer = api.get(view["variants"][variant])
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/jpeg"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "immutable" in answer.headers["cache-control"]
    assert len(answer.content) == view["sizes"][variant]["bytes"]
    again = api.get(view["variants"][variant], headers={"If-None-Match": answer.headers["etag"]})
    assert again.status_code == 304


@pytest.mark.parametrize("name", sorted(samples.REJECTED))
def test_bad_input_gets_a_clear_error_and_nothing_is_stored(
    api: httpx.Client, stack: Stack, name: str
) -> None:
    data, status, reason = samples.REJECTED[name]
    before = stack.upload_keys()
    answer = upload(api, data, "innocent.jpg", "image/jpeg")
    assert answer.status_code == status
    assert answer.json()["reason"] == reason
    assert len(answer.json()["error"]) > 10
    assert stack.upload_keys() == before


def test_a_file_over_25_mb_is_413(api: httpx.Client, stack: Stack) -> None:
    before = stack.upload_keys()
    answer = upload(api, b"\xff\xd8\xff\xe0" + b"\x00" * (25 * 1024 * 1024 + 1))
    assert answer.status_code == 413
    assert "limit" in answer.json()["error"]
    assert stack.upload_keys() == before


def test_an_upload_without_the_file_field_is_400(api: httpx.Client) -> None:
    answer = api.post("/api/images", files={"picture": ("a.jpg", b"x", "image/jpeg")})
    assert answer.status_code == 400
    assert "'file'" in answer.json()["error"]


@pytest.mark.parametrize(
    "data", [samples.truncated_jpeg(), samples.corrupt_png()], ids=["truncated", "corrupt"]
)
def test_what_only_decoding_reveals_ends_failed_with_a_reason(api: httpx.Client, data) -> None:
    answer = upload(api, data)
    assert answer.status_code == 202
    view = finished(api, answer.json()["id"])
    assert view["status"] == "failed"
    assert "cannot be decoded" in view["error"]
    assert set(view["variants"]) == {"original"}


def test_listing_is_newest_first_and_paginated(api: httpx.Client) -> None:
    ids = [upload(api, samples.ACCEPTED["png"]()).json()["id"] for _ in range(3)]
    first = api.get("/api/images", params={"limit": 2}).json()
    assert [image["id"] for image in first["images"]] == ids[::-1][:2]
    second = api.get("/api/images", params={"limit": 2, "after": first["next"]}).json()
    assert second["images"][0]["id"] == ids[0]


@pytest.mark.parametrize(
    "params", [{"limit": "0"}, {"limit": "101"}, {"limit": "x"}, {"after": "../../x"}]
)
def test_listing_refuses_bad_parameters(api: httpx.Client, params: dict[str, str]) -> None:
    answer = api.get("/api/images", params=params)
    assert answer.status_code == 400 and answer.json()["error"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/images/0000000000000000000ff",
        "/api/images/not-an-id",
        "/api/images/0000000000000000000ff/thumb",
        "/api/images/0000000000000000000ff/secret",
    ],
)
def test_unknown_things_are_404_json(api: httpx.Client, path: str) -> None:
    answer = api.get(path)
    assert answer.status_code == 404
    assert answer.json()["error"]


def test_delete_removes_the_original_every_variant_and_the_listing(
    api: httpx.Client, stack: Stack
) -> None:
    image_id = upload(api, samples.ACCEPTED["jpeg"]()).json()["id"]
    finished(api, image_id)
    assert api.delete(f"/api/images/{image_id}").json() == {"id": image_id, "status": "deleted"}
    assert api.get(f"/api/images/{image_id}").status_code == 404
    assert api.get(f"/api/images/{image_id}/original").status_code == 404
    assert stack.keys(f"images/{image_id}/") == set()
    assert stack.keys(f"index/{image_id}") == set()
    assert api.delete(f"/api/images/{image_id}").status_code == 404


def test_a_20_mb_upload_passes_the_frontend_proxy(stack: Stack) -> None:
    big = samples.encode(samples.gradient(2700, 2700), "BMP")
    assert len(big) > 20 * 1024 * 1024
    with stack.client("frontend", timeout=60) as front:
        answer = upload(front, big, "big.bmp", "image/bmp")
        assert answer.status_code == 202, answer.text
        assert finished(front, answer.json()["id"])["status"] == "done"


def test_the_frontend_proxies_the_api_same_origin(stack: Stack) -> None:
    with stack.client("frontend", timeout=30) as front:
        answer = upload(front, samples.ACCEPTED["gif"]())
        assert answer.status_code == 202
        assert answer.headers["x-served-by"] == "node-shared"  # the backend's name
        view = finished(front, answer.json()["id"])
        assert front.get(view["variants"]["thumb"]).headers["content-type"] == "image/jpeg"
        page = front.get("/")
        assert page.headers["x-served-by"] == "front-shared"
        assert '<script type="module" src="/static/app.js">' in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert front.get("/static/app.js").headers["content-type"].startswith("text/javascript")
