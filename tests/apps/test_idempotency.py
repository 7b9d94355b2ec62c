"""Retry-safe uploads: the same Idempotency-Key gives the same answer and one stored image.

Faults at the broker are in test_resilience.py (it has a broker of its own to stop).
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import apps_samples as samples
import httpx
import pytest
from apps_stack import Stack, finished, keyed_upload, upload
from imgcloud import naming
from imgcloud.bench import photo_like
from imgcloud.idempotency import Record, record_key

PARTS = {
    "original",
    "manifest.json",
    *(f"{name}{ext}" for name in ("thumb", "medium", "large") for ext in ("", ".webp")),
}


def fresh_key() -> str:
    return f"test-{uuid.uuid4()}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def new_uploads(stack: Stack, before: set[str]) -> set[str]:
    return stack.upload_keys() - before


def stored(image_id: str) -> set[str]:
    """The keys one accepted upload leaves: its index entry and its original."""
    return {f"index/{image_id}", f"images/{image_id}/original"}


def listed(api: httpx.Client, image_id: str) -> int:
    images = api.get("/api/images", params={"limit": 100}).json()["images"]
    return [image["id"] for image in images].count(image_id)


def test_the_same_key_twice_gives_the_same_answer_and_one_image(
    api: httpx.Client, stack: Stack
) -> None:
    data, key = photo_like(900, 600, seed=21), fresh_key()
    before = stack.upload_keys()
    first = keyed_upload(api, data, key)
    second = keyed_upload(api, data, key)
    assert first.status_code == second.status_code == 202, (first.text, second.text)
    assert second.json() == first.json()
    image_id = first.json()["id"]
    view = finished(api, image_id)
    assert view["status"] == "done"
    assert view["sha256"] == sha256(data)
    assert new_uploads(stack, before) == stored(image_id)
    assert stack.keys(f"images/{image_id}/") == {f"images/{image_id}/{p}" for p in PARTS}
    assert listed(api, image_id) == 1
    # A retry after the image is done answers the same and leaves it done.
    assert keyed_upload(api, data, key).json() == first.json()
    assert api.get(f"/api/images/{image_id}").json() == view


def stalled_upload(stack: Stack, data: bytes, key: str, go_on: threading.Event) -> httpx.Response:
    """An upload whose body stops half-way until ``go_on`` is set: an attempt still in
    flight (cut off from its client, say) while the client's retry overtakes it."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="slow.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    body = head + data + f"\r\n--{boundary}--\r\n".encode()

    def chunks() -> Iterator[bytes]:
        yield body[: len(body) // 2]
        go_on.wait(30)
        yield body[len(body) // 2 :]

    headers = {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Idempotency-Key": key,
    }
    with stack.client(timeout=60) as client:
        return client.post("/api/images", content=chunks(), headers=headers)


def test_a_retry_while_the_first_attempt_is_in_flight_gives_the_same_image(
    api: httpx.Client, stack: Stack
) -> None:
    data, key = photo_like(1200, 800, seed=22), fresh_key()
    before = stack.upload_keys()
    go_on = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(stalled_upload, stack, data, key, go_on)
        time.sleep(0.5)  # the first attempt's headers and half its body are in
        try:
            retry = keyed_upload(api, data, key)
        finally:
            go_on.set()
        first = slow.result(60)
    assert retry.status_code == first.status_code == 202, (retry.text, first.text)
    assert first.json()["id"] == retry.json()["id"]
    image_id = retry.json()["id"]
    assert finished(api, image_id)["status"] == "done"
    assert new_uploads(stack, before) == stored(image_id)
    assert listed(api, image_id) == 1


def test_attempts_with_one_key_at_the_same_moment_make_one_image(
    api: httpx.Client, stack: Stack
) -> None:
    data, key, attempts = photo_like(800, 800, seed=23), fresh_key(), 8
    before = stack.upload_keys()
    start = threading.Barrier(attempts)

    def attempt(_: int) -> httpx.Response:
        with stack.client(timeout=60) as client:
            start.wait(30)
            return keyed_upload(client, data, key)

    with ThreadPoolExecutor(attempts) as pool:
        answers = list(pool.map(attempt, range(attempts)))
    assert {answer.status_code for answer in answers} == {202}, [a.text for a in answers]
    ids = {answer.json()["id"] for answer in answers}
    assert len(ids) == 1, ids
    image_id = ids.pop()
    assert finished(api, image_id)["status"] == "done"
    assert new_uploads(stack, before) == stored(image_id)
    assert stack.keys(f"images/{image_id}/") == {f"images/{image_id}/{p}" for p in PARTS}


def test_the_same_key_with_other_bytes_is_422_and_stores_nothing(
    api: httpx.Client, stack: Stack
) -> None:
    key = fresh_key()
    first = keyed_upload(api, samples.ACCEPTED["jpeg"](), key)
    assert first.status_code == 202
    before = stack.upload_keys()
    other = keyed_upload(api, samples.ACCEPTED["png"](), key, "other.png")
    assert other.status_code == 422
    assert other.json()["reason"] == "idempotency_key_reused"
    assert len(other.json()["error"]) > 10
    assert stack.upload_keys() == before
    assert keyed_upload(api, samples.ACCEPTED["jpeg"](), key).json() == first.json()


@pytest.mark.parametrize(
    "key",
    ["", "k" * 201, b"caf\xc3\xa9", "tab\tinside"],
    ids=["empty", "201-characters", "not-ascii", "control-character"],
)
def test_a_bad_key_is_400_and_stores_nothing(
    api: httpx.Client, stack: Stack, key: str | bytes
) -> None:
    before = stack.upload_keys()
    answer = keyed_upload(api, samples.ACCEPTED["png"](), key)
    assert answer.status_code == 400, answer.text
    assert answer.json()["reason"] == "bad_idempotency_key"
    assert "Idempotency-Key" in answer.json()["error"]
    assert stack.upload_keys() == before


@pytest.mark.parametrize(
    "key", ["k", "k" * 200, "any printable: ~!@#$%^&*()"], ids=["one", "200", "punctuation"]
)
def test_a_key_of_1_to_200_printable_characters_is_taken(api: httpx.Client, key: str) -> None:
    # Each stack has a bucket of its own, so these keys are fresh in every session.
    answer = keyed_upload(api, samples.ACCEPTED["bmp"](), key)
    assert answer.status_code == 202, answer.text


def test_without_a_key_the_same_bytes_are_two_images(api: httpx.Client, stack: Stack) -> None:
    data = samples.ACCEPTED["gif"]()
    before, records = stack.upload_keys(), stack.keys("idempotency/")
    ids = [upload(api, data).json()["id"] for _ in range(2)]
    assert ids[0] != ids[1]
    assert new_uploads(stack, before) == stored(ids[0]) | stored(ids[1])
    views = [finished(api, image_id) for image_id in ids]
    assert [view["sha256"] for view in views] == [sha256(data)] * 2
    assert stack.keys("idempotency/") == records


def test_an_expired_key_gives_a_new_image(api: httpx.Client, stack: Stack) -> None:
    data, key = samples.ACCEPTED["webp"](), fresh_key()
    two_days_ago = time.time() - 2 * 24 * 3600
    old = Record(naming.new_id(two_days_ago), sha256(data), two_days_ago)
    stack.s3().put_object(Bucket=stack.bucket, Key=record_key(key), Body=old.to_json())
    answer = keyed_upload(api, data, key)
    assert answer.status_code == 202
    assert answer.json()["id"] != old.id
    assert keyed_upload(api, data, key).json() == answer.json()
