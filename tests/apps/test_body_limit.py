"""The upload limit holds while the body streams: chunked, without a Content-Length.

A client that sends no Content-Length (chunked transfer) must meet the 25 MB limit as
soon as its body passes it, not after the whole body has been received and spooled:
the answer (`413`, JSON) comes while the client is still sending, and nothing is
stored.
"""

from __future__ import annotations

import os

import apps_samples as samples
import pytest
from apps_stack import Stack, finished
from chunked import MB, stream_upload
from imgcloud.bodylimit import LimitedBody
from PIL import Image
from quart.wrappers.request import Body

LIMIT = 25 * MB  # IMGCLOUD_MAX_UPLOAD_BYTES's default, which the stack keeps


@pytest.mark.parametrize("service", ["backend", "frontend"])
def test_a_60_mb_chunked_upload_is_refused_while_it_streams(stack: Stack, service: str) -> None:
    before = stack.upload_keys()
    total = 60 * MB
    huge = b"\xff\xd8\xff\xe0" + bytes(total - 4)
    status, body, sent = stream_upload(
        getattr(stack, service).url, huge, LIMIT, token=stack.admin_token
    )
    assert status == 413, body
    assert "limit" in body["error"] or "too large" in body["error"]
    assert len(body["request_id"]) >= 8
    assert sent < total, f"the answer came only after all {sent / MB:.0f} MB were sent"
    assert sent <= LIMIT + 8 * MB, f"answered after {sent / MB:.0f} MB, limit {LIMIT / MB:.0f} MB"
    assert stack.upload_keys() == before


@pytest.mark.parametrize("service", ["backend", "frontend"])
def test_a_chunked_upload_under_the_limit_is_accepted(api, stack: Stack, service: str) -> None:
    noise = Image.frombytes("RGB", (1600, 1200), os.urandom(1600 * 1200 * 3))
    photo = samples.encode(noise, "JPEG", quality=95)  # noise compresses badly: MBs
    assert len(photo) > 2 * MB
    status, body, sent = stream_upload(
        getattr(stack, service).url, photo, LIMIT, token=stack.admin_token
    )
    assert (status, sent) == (202, len(photo)), body
    view = finished(api, body["id"])
    assert view["status"] == "done", view
    assert api.get(view["variants"]["original"]).content == photo


def test_the_limit_counts_every_byte_not_what_the_buffer_holds() -> None:
    # Quart's own body compares the limit with its buffer, which a reader empties
    # chunk by chunk; ours counts what was received. Pinned against Quart's internals.
    for body_class, trips in ((Body, False), (LimitedBody, True)):
        body = body_class(None, 10)
        for _ in range(3):
            body.append(b"x" * 6)
            body._data.clear()  # what a reader iterating the body does
        assert (body._must_raise is not None) is trips, body_class
