"""Every error answer: JSON naming what to do, and a request id the log shares."""

from __future__ import annotations

import httpx
import pytest
from apps_stack import Stack

ERRORS = {
    "no file": ("POST", "/api/images", {"files": {"picture": ("a.jpg", b"x", "image/jpeg")}}, 400),
    "no such image": ("GET", "/api/images/e5dc0000000000000000a", {}, 404),
    "bad page size": ("GET", "/api/images?limit=0", {}, 400),
    "bad idempotency key": (
        "POST",
        "/api/images",
        {
            "files": {"file": ("a.jpg", b"x", "image/jpeg")},
            "headers": {"Idempotency-Key": "k" * 1000},
        },
        400,
    ),
    "no such route": ("GET", "/api/nothing/here/at/all", {}, 404),
}


@pytest.mark.parametrize("role", ["backend", "frontend"])
@pytest.mark.parametrize("case", sorted(ERRORS))
def test_an_error_is_json_with_the_request_id_of_its_header(
    stack: Stack, role: str, case: str
) -> None:
    method, path, options, status = ERRORS[case]
    with stack.client(role, timeout=30) as client:
        answer = client.request(method, path, **options)
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert len(body["error"]) > 5
    # Through the frontend the body is the backend's and the header the frontend's:
    # equal only because the frontend handed its id on.
    assert body["request_id"] == answer.headers["x-request-id"]
    assert len(body["request_id"]) >= 8


def test_a_request_id_from_upstream_is_kept_through_the_frontend(stack: Stack) -> None:
    given = "haproxy-0a1b2c3d"
    answer = httpx.get(
        f"{stack.frontend.url}/api/images/e5dc0000000000000000a",
        headers={"X-Request-Id": given},
        timeout=30,
    )
    assert answer.status_code == 404
    assert answer.headers["x-request-id"] == given == answer.json()["request_id"]


@pytest.mark.parametrize("given", ["short", "x" * 65, "two words here!", "new\\nline-forged"])
def test_a_request_id_that_does_not_look_like_one_is_replaced(stack: Stack, given: str) -> None:
    answer = httpx.get(f"{stack.backend.url}/healthz", headers={"X-Request-Id": given}, timeout=30)
    assert answer.status_code == 200
    assert answer.headers["x-request-id"] not in (given, "", "-")
