"""Security headers on every kind of answer of the three services (issue #8).

The expected values are written out here rather than imported, so a change to
``imgcloud.security_headers`` has to be a change to this file too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import apps_samples as samples
import httpx
import pytest
from apps_stack import Stack, finished, upload

COMMON = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}
DENIED_FEATURES = ("camera", "microphone", "geolocation", "payment", "usb", "display-capture")
PAGE = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' blob:",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
LOCKED = {"default-src": "'none'", "frame-ancestors": "'none'"}
SANDBOXED = {**LOCKED, "sandbox": ""}

# (service, method, path, expected status, content type prefix, policy); `{id}` is an
# image that finished resizing.
ANSWERS = {
    "page": ("frontend", "GET", "/", 200, "text/html", PAGE),
    "script": ("frontend", "GET", "/static/app.js", 200, "text/javascript", LOCKED),
    "stylesheet": ("frontend", "GET", "/static/style.css", 200, "text/css", LOCKED),
    "icon": ("frontend", "GET", "/static/favicon.svg", 200, "image/svg+xml", LOCKED),
    "page-config": ("frontend", "GET", "/config.json", 200, "application/json", LOCKED),
    "frontend-404": ("frontend", "GET", "/no/such/page", 404, "application/json", LOCKED),
    "proxied-api": ("frontend", "GET", "/api/images", 200, "application/json", LOCKED),
    "proxied-image": ("frontend", "GET", "/api/images/{id}/thumb", 200, "image/jpeg", SANDBOXED),
    "api-list": ("backend", "GET", "/api/images", 200, "application/json", LOCKED),
    "api-view": ("backend", "GET", "/api/images/{id}", 200, "application/json", LOCKED),
    "api-404": ("backend", "GET", "/api/images/nosuchimage", 404, "application/json", LOCKED),
    "api-400": ("backend", "GET", "/api/images?limit=0", 400, "application/json", LOCKED),
    "api-405": ("backend", "PUT", "/api/images", 405, "application/json", LOCKED),
    "api-415": ("backend", "POST", "/api/images", 415, "application/json", LOCKED),
    "image-bytes": ("backend", "GET", "/api/images/{id}/medium", 200, "image/jpeg", SANDBOXED),
    "original-bytes": ("backend", "GET", "/api/images/{id}/original", 200, "image/png", SANDBOXED),
    "readyz": ("backend", "GET", "/readyz", 200, "application/json", LOCKED),
    "metrics": ("backend", "GET", "/metrics", 200, "text/plain", LOCKED),
    "worker-healthz": ("worker", "GET", "/healthz", 200, "application/json", LOCKED),
    "worker-metrics": ("worker", "GET", "/metrics", 200, "text/plain", LOCKED),
}


@pytest.fixture(scope="module")
def image_id(stack: Stack) -> str:
    with stack.client(timeout=30) as client:
        answer = upload(client, samples.ACCEPTED["png"](), "headers.png", "image/png")
        assert answer.status_code == 202, answer.text
        assert finished(client, answer.json()["id"])["status"] == "done"
        return answer.json()["id"]


@pytest.fixture(scope="module")
def clients(stack: Stack) -> Iterator[dict[str, httpx.Client]]:
    opened = {name: stack.client(name) for name in ("frontend", "backend", "worker")}
    yield opened
    for client in opened.values():
        client.close()


@pytest.fixture(params=sorted(ANSWERS))
def answer(
    request: pytest.FixtureRequest, clients: dict[str, httpx.Client], image_id: str
) -> tuple[httpx.Response, dict[str, str]]:
    service, method, path, status, content_type, policy = ANSWERS[request.param]
    files = {"file": ("notes.txt", b"not an image at all", "text/plain")}
    got = clients[service].request(
        method, path.format(id=image_id), files=files if method == "POST" else None
    )
    assert got.status_code == status, got.text[:300]
    assert got.headers["content-type"].startswith(content_type)
    return got, policy


def directives(header: str) -> dict[str, str]:
    """A Content-Security-Policy as {directive: sources}."""
    parsed = {}
    for part in filter(None, (item.strip() for item in header.split(";"))):
        name, _, sources = part.partition(" ")
        assert name not in parsed, f"{name} given twice in {header!r}"
        parsed[name] = sources.strip()
    return parsed


@pytest.mark.parametrize("header", sorted(COMMON))
def test_every_answer_carries_the_header(
    answer: tuple[httpx.Response, dict[str, str]], header: str
) -> None:
    response, _ = answer
    assert response.headers.get(header) == COMMON[header]


def test_every_answer_denies_the_powerful_features(
    answer: tuple[httpx.Response, dict[str, str]],
) -> None:
    response, _ = answer
    policy = dict(
        item.strip().split("=", 1) for item in response.headers["permissions-policy"].split(",")
    )
    assert {feature: policy.get(feature) for feature in DENIED_FEATURES} == dict.fromkeys(
        DENIED_FEATURES, "()"
    )


def test_every_answer_carries_its_content_security_policy(
    answer: tuple[httpx.Response, dict[str, str]],
) -> None:
    response, policy = answer
    assert response.headers.get_list("content-security-policy") == [
        response.headers["content-security-policy"]
    ], "exactly one policy"
    assert directives(response.headers["content-security-policy"]) == policy


def test_the_page_allows_no_inline_or_evaluated_code(clients: dict[str, httpx.Client]) -> None:
    policy = clients["frontend"].get("/").headers["content-security-policy"]
    assert "unsafe-" not in policy
    assert "data:" not in policy, "the page shows no data: images; blob: previews suffice"


def test_the_page_has_no_inline_script_or_style(clients: dict[str, httpx.Client]) -> None:
    html = clients["frontend"].get("/").text
    assert not re.search(r"<style\b|\sstyle\s*=", html), "no inline style"
    assert not re.search(r"\son[a-z]+\s*=", html), "no inline event handler"
    assert not re.search(r"javascript:", html, re.IGNORECASE), "no javascript: URL"
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.DOTALL)
    assert scripts, "the page loads its code from a script file"
    assert all(" src=" in attributes and not body.strip() for attributes, body in scripts)
