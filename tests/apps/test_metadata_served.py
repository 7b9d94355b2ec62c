"""What anyone holding an image's URL gets: no GPS, no XMP, no comments, the photo upright.

Through the real backend, worker, RabbitMQ and MinIO: the original read back and every
variant made from it. A team that wants its metadata sets IMGCLOUD_KEEP_METADATA.
"""

from __future__ import annotations

import hashlib
import io
import secrets
from collections.abc import Iterator

import httpx
import pytest
from apps_stack import finished, keyed_upload, start_stack, upload
from metadata_samples import ICC, MARKER, jpeg_marked
from PIL import Image


@pytest.fixture(scope="module")
def keeping(infra: tuple, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """A stack of a team that keeps its photos' metadata."""
    rabbitmq, minio = infra
    running = start_stack(
        tmp_path_factory.mktemp("keeping"),
        rabbitmq,
        minio,
        f"keep{secrets.token_hex(2)}",
        keep_metadata="true",
    )
    with running.client(timeout=30) as client:
        yield client
    running.stop()


def served(client: httpx.Client, image_id: str, variant: str) -> bytes:
    answer = client.get(f"/api/images/{image_id}/{variant}")
    assert answer.status_code == 200, answer.text
    return answer.content


def test_the_original_is_served_without_metadata_and_upright(api: httpx.Client) -> None:
    sent = jpeg_marked(orientation=6)  # 320x240 as stored by the camera, turned
    answer = upload(api, sent)
    assert answer.status_code == 202, answer.text
    image_id = answer.json()["id"]
    original = served(api, image_id, "original")
    assert MARKER not in original
    opened = Image.open(io.BytesIO(original))
    assert opened.size == (240, 320), "the pixels must be turned as the EXIF said"
    assert not opened.getexif()
    assert opened.info.get("icc_profile") == ICC
    view = finished(api, image_id)
    assert view["status"] == "done", view
    assert view["sha256"] == hashlib.sha256(original).hexdigest(), "the JSON names what is served"
    size = view["sizes"]["original"]
    assert (size["width"], size["height"], size["bytes"]) == (240, 320, len(original))
    variants = [name for name in view["variants"] if name != "original"]
    assert variants, "the worker made no variant to check"
    for name in variants:
        data = served(api, image_id, name)
        assert MARKER not in data, f"{name} carries metadata"
        width, height = Image.open(io.BytesIO(data)).size
        assert height >= width, f"{name} is {width}x{height}: not upright"


def test_a_retry_with_the_same_key_is_judged_by_the_bytes_sent(api: httpx.Client) -> None:
    sent, key = jpeg_marked(), secrets.token_hex(16)
    first, again = keyed_upload(api, sent, key), keyed_upload(api, sent, key)
    assert (first.status_code, again.status_code) == (202, 202), again.text
    assert first.json()["id"] == again.json()["id"]


def test_a_team_may_keep_the_metadata(keeping: httpx.Client) -> None:
    sent = jpeg_marked(orientation=6)
    answer = upload(keeping, sent)
    assert answer.status_code == 202, answer.text
    assert served(keeping, answer.json()["id"], "original") == sent


def test_an_upload_whose_blocks_do_not_parse_gets_422_with_the_reason(api: httpx.Client) -> None:
    sent = jpeg_marked()
    broken = sent[:20] + b"not a marker" + sent[20:]  # after the JFIF segment
    answer = upload(api, broken)
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["reason"] == "bad_structure" and body["request_id"], body
